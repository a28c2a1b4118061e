// Runs the docs/testing.md example (examples/testing-kit.test.ts) in CI. It lives in its own
// file because it keeps one system across its tests (beforeAll/afterAll), unlike the fault
// suites whose per-test leak check would see its workers.
import '../../../examples/testing-kit.test.ts';
