// Package pgtest gives each test its own PostgreSQL schema, so tests that share one server
// run in parallel without colliding.
//
// Tests read the server's address from SLUICE_TEST_DATABASE_URL and skip, saying how to
// enable them, when it is unset. .ci/run sets it and fails loudly when the server is down.
package pgtest
