import { runPublisherConformance } from './conformance.js';
import { target } from './targets/mqtt.js';

runPublisherConformance(target);
