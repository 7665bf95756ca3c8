// BFD for BGP through herald speaker, against BIRD's bfd protocol (scenarios in e2e-bfd.ts).
import { describeBfd } from './e2e-bfd.js';

describeBfd('bird');
