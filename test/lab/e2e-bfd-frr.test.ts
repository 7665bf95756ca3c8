// BFD for BGP through herald speaker, against FRR's bfdd (scenarios in e2e-bfd.ts).
import { describeBfd } from './e2e-bfd.js';

describeBfd('frr');
