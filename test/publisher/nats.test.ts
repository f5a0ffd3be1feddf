import { runPublisherConformance } from './conformance.js';
import { target } from './targets/nats.js';

runPublisherConformance(target);
