// Runs the docs/testing.md offline-agent example (examples/offline/weather.test.ts) in CI, in its
// own file because it keeps one system across its tests (beforeAll/afterAll).
import '../../examples/offline/weather.test.ts';
