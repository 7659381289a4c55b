export { createOnnxNetwork, type OnnxNetwork, type OnnxNetworkOptions } from './network.ts';
export { EMITTER_VERSION } from './emit.ts';
