// Package readme holds the Go code of the repository's README.md, so that it is compiled
// with the module and run by this package's tests against the test database.
//
// Each README Go block is a region of a file here, between a line "// README: NAME" and a
// line "// README end"; the README marks the block with "<!-- snippet: NAME -->" on the
// line before it. TestREADMEMatchesTheSnippets fails when a block and its region differ
// by a byte, when a Go block is not marked, or when a region is in no block. To change a
// snippet, edit it here and run
//
//	go test ./examples/readme -run TestREADMEMatchesTheSnippets -update
//
// which copies every region into its README block.
package readme
