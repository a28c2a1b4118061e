// Global fast-check settings: CI pins the seed (FC_SEED) so a red run is replayable;
// FC_NUM_RUNS raises the run count for the long property script.
import fc from 'fast-check';

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const numRuns = process.env.FC_NUM_RUNS === undefined ? undefined : Number(process.env.FC_NUM_RUNS);
// FC_PATH (with FC_SEED) replays a printed counterexample in every suite; meant for one test
// at a time (`-t <name>`): a path only means something to the property that printed it.
const path = process.env.FC_PATH === undefined || process.env.FC_PATH === '' ? undefined : process.env.FC_PATH;
fc.configureGlobal({
  ...(seed === undefined ? {} : { seed }),
  ...(path === undefined ? {} : { path }),
  ...(numRuns === undefined ? {} : { numRuns }),
  interruptAfterTimeLimit: 60_000,
  markInterruptAsFailure: true,
});

// The offline guard for every Python worker the tests start (src/process/env.ts passes it on):
// a model that would call a provider raises instead of reaching the network.
process.env.SYNAPSE_ALLOW_MODEL_REQUESTS = '0';
