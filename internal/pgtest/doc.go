// Package pgtest gives each test its own PostgreSQL schema, so tests that share one server
// run in parallel without colliding.
//
// Tests read the server's address from SLUICE_TEST_DATABASE_URL and skip, saying how to
// enable them, when it is unset. .ci/run sets it and fails loudly when the server is down.
// A package with database tests has a TestMain that calls [Main] (or [Run]), which prints
// once, with or without -v, how many tests skipped for want of a database and how to run
// them; [Require] does the same for other databases' variables, such as
// SLUICE_TEST_MYSQL_URL.
package pgtest
