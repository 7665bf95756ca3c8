// ConfigMap fields on the wire through herald speaker, checked at BIRD (scenarios in e2e-wire.ts).
import { describeWire } from './e2e-wire.js';

describeWire('bird');
