//go:build race

package main

// raceEnabled says the tests run under the race detector, so that the example is built
// the same way: it then reuses the packages the test binary's build already compiled,
// instead of compiling every dependency again, and its own races are caught too.
const raceEnabled = true
