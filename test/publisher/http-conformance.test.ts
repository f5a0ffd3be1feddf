import { runPublisherConformance } from './conformance.js';
import { target } from './targets/http.js';

runPublisherConformance(target);
