package readme

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "copy every snippet region into its README.md block")

const readmePath = "../../README.md"

// sources returns the package's Go files other than tests, by name.
func sources(t *testing.T) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob("*.go")
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		files[name] = b
	}
	require.NotEmpty(t, files)
	return files
}

// TestREADMEMatchesTheSnippets keeps README.md's Go blocks byte for byte equal to the
// regions of this package's files, which the module compiles and the tests below run.
func TestREADMEMatchesTheSnippets(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	files := sources(t)
	if *update {
		updated, err := updateREADME(string(readme), files)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(readmePath, []byte(updated), 0o644))
		readme = []byte(updated)
	}
	for _, err := range checkREADME(string(readme), files) {
		t.Error(err)
	}
	blocks, err := goBlocks(string(readme))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(blocks), 5, "the README's Go blocks were not found")
}

func TestCheckREADME(t *testing.T) {
	t.Parallel()
	const file = "package readme\n\nfunc f() int {\n\t// README: two\n\tx := 1\n\n\treturn x + 1\n\t// README end\n}\n"
	const good = "# Title\n\n<!-- snippet: two -->\n```go\nx := 1\n\nreturn x + 1\n```\n\n```sh\nnot go\n```\n"
	for _, tc := range []struct {
		name   string
		readme string
		file   string
		want   []string // substrings of the errors, in order; none for a match
	}{
		{name: "match", readme: good, file: file},
		{name: "a changed line", readme: strings.Replace(good, "x := 1", "x := 2", 1), file: file,
			want: []string{`README.md:4: snippet two differs from f.go:4: line 1 of the block is "x := 2", the file has "x := 1"`}},
		{name: "a line too many", readme: strings.Replace(good, "return x + 1\n", "return x + 1\nfmt.Println(x)\n", 1), file: file,
			want: []string{`line 4 of the block is "fmt.Println(x)", the file has ""`}},
		{name: "a line missing", readme: strings.Replace(good, "\nreturn x + 1", "", 1), file: file,
			want: []string{`line 3 of the block is "", the file has "return x + 1"`}},
		{name: "unmarked block", readme: strings.Replace(good, "<!-- snippet: two -->\n", "", 1), file: file,
			want: []string{"README.md:3: a Go block without a <!-- snippet: NAME --> line", "f.go:4: snippet two is in no README block"}},
		{name: "unknown snippet", readme: strings.Replace(good, "snippet: two", "snippet: three", 1), file: file,
			want: []string{"README.md:4: snippet three is in no file of examples/readme", "f.go:4: snippet two is in no README block"}},
		{name: "unclosed block", readme: strings.TrimSuffix(good, "```sh\nnot go\n```\n"), file: file},
		{name: "unclosed fence", readme: "<!-- snippet: two -->\n```go\nx := 1\n", file: file,
			want: []string{"README.md:2: the Go block is never closed"}},
		{name: "not gofmt-formatted", readme: strings.Replace(good, "x := 1", "x:=1", 1), file: strings.Replace(file, "x := 1", "x:=1", 1),
			want: []string{"f.go: not gofmt-formatted"}},
		{name: "region left open", readme: good, file: strings.Replace(file, "\t// README end\n", "", 1),
			want: []string{"f.go:8: snippet two: the line is indented less than its marker", `f.go:4: snippet two has no "// README end"`,
				"README.md:4: snippet two is in no file"}},
		{name: "region indented less than its marker", readme: good, file: strings.Replace(file, "\t// README: two", "\t\t// README: two", 1),
			want: []string{"f.go: not gofmt-formatted", "f.go:5: snippet two: the line is indented less than its marker",
				"f.go:7: snippet two: the line is indented less than its marker", `line 1 of the block is "x := 1", the file has "\tx := 1"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			errs := checkREADME(tc.readme, map[string][]byte{"f.go": []byte(tc.file)})
			if tc.name == "unclosed block" {
				require.Empty(t, errs) // the sh block's fence is only cut off after the Go block
				return
			}
			require.Len(t, errs, len(tc.want), "%v", errs)
			for i, want := range tc.want {
				require.ErrorContains(t, errs[i], want)
			}
		})
	}
}

// TestCheckREADMECatchesTheOldPipeline feeds the checker the README's first pipeline as
// it once was, with an unused result and no Create: it compiled nowhere, and must fail.
func TestCheckREADMECatchesTheOldPipeline(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	files := sources(t)
	broken := strings.Replace(string(readme), "\t\tCreate: true, // on the first run, from the CSV's columns\n", "", 1)
	require.NotEqual(t, string(readme), broken, "the README no longer has the line this test removes")
	errs := checkREADME(broken, files)
	require.Len(t, errs, 1, "%v", errs)
	require.ErrorContains(t, errs[0], "snippet pipeline differs from pipeline.go")
}

func TestUpdateREADME(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{"f.go": []byte("package readme\n\nfunc f() {\n\t// README: a\n\tg()\n\t// README end\n}\n\nfunc g() {}\n")}
	readme := "before\n<!-- snippet: a -->\n```go\nold()\nolder()\n```\nafter\n"
	got, err := updateREADME(readme, files)
	require.NoError(t, err)
	require.Equal(t, "before\n<!-- snippet: a -->\n```go\ng()\n```\nafter\n", got)
	require.Empty(t, checkREADME(got, files))
}
