package readme

import (
	"bytes"
	"fmt"
	"go/format"
	"regexp"
	"sort"
	"strings"
)

// The markers of a snippet region in a Go file, and of a snippet block in README.md.
var (
	regionStart = regexp.MustCompile(`^(\s*)// README: (\S+)\s*$`)
	regionEnd   = regexp.MustCompile(`^\s*// README end\s*$`)
	blockMark   = regexp.MustCompile(`^<!-- snippet: (\S+) -->\s*$`)
)

// region is one snippet as a Go file holds it.
type region struct {
	file string
	line int    // of the start marker
	text string // the lines between the markers, less the marker's indentation
}

// regions returns the snippet regions of the Go files, by name. A file that gofmt would
// change is an error, as is a region left open, one that shares another's name, or a
// line indented less than its marker.
func regions(files map[string][]byte) (map[string]region, []error) {
	out := map[string]region{}
	var errs []error
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		src := files[name]
		if formatted, err := format.Source(src); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		} else if !bytes.Equal(formatted, src) {
			errs = append(errs, fmt.Errorf("%s: not gofmt-formatted, so neither are its snippets", name))
		}
		lines := strings.Split(string(src), "\n")
		for i := 0; i < len(lines); i++ {
			m := regionStart.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			indent, snippet, start := m[1], m[2], i+1
			var body []string
			closed := false
			for i++; i < len(lines); i++ {
				if regionEnd.MatchString(lines[i]) {
					closed = true
					break
				}
				line := lines[i]
				switch {
				case strings.TrimSpace(line) == "":
					line = ""
				case strings.HasPrefix(line, indent):
					line = line[len(indent):]
				default:
					errs = append(errs, fmt.Errorf("%s:%d: snippet %s: the line is indented less than its marker", name, i+1, snippet))
				}
				body = append(body, line)
			}
			switch {
			case !closed:
				errs = append(errs, fmt.Errorf("%s:%d: snippet %s has no \"// README end\"", name, start, snippet))
			case out[snippet].file != "":
				errs = append(errs, fmt.Errorf("%s:%d: snippet %s is also at %s:%d", name, start, snippet, out[snippet].file, out[snippet].line))
			default:
				out[snippet] = region{file: name, line: start, text: strings.Join(body, "\n") + "\n"}
			}
		}
	}
	return out, errs
}

// block is one fenced Go block of the README.
type block struct {
	name       string // from the marker on the line before the fence; "" when unmarked
	start, end int    // 0-based line indexes of the opening and closing fences
	text       string
}

// goBlocks returns the README's fenced Go blocks.
func goBlocks(readme string) ([]block, error) {
	lines := strings.Split(readme, "\n")
	var out []block
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		b := block{start: i}
		if i > 0 {
			if m := blockMark.FindStringSubmatch(lines[i-1]); m != nil {
				b.name = m[1]
			}
		}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			b.text += lines[i] + "\n"
		}
		if i == len(lines) {
			return out, fmt.Errorf("README.md:%d: the Go block is never closed", b.start+1)
		}
		b.end = i
		out = append(out, b)
	}
	return out, nil
}

// checkREADME reports every way in which the README's Go blocks and the snippet regions
// of files disagree: a block with no marker, a marker naming no region, a block that
// differs from its region (with the first line that differs), and a region in no block.
func checkREADME(readme string, files map[string][]byte) []error {
	regs, errs := regions(files)
	blocks, err := goBlocks(readme)
	if err != nil {
		return append(errs, err)
	}
	used := map[string]bool{}
	for _, b := range blocks {
		at := fmt.Sprintf("README.md:%d", b.start+1)
		if b.name == "" {
			errs = append(errs, fmt.Errorf("%s: a Go block without a <!-- snippet: NAME --> line before it; keep its code in a file of examples/readme so that it is compiled and run", at))
			continue
		}
		r, ok := regs[b.name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: snippet %s is in no file of examples/readme", at, b.name))
			continue
		}
		used[b.name] = true
		if b.text != r.text {
			errs = append(errs, fmt.Errorf("%s: snippet %s differs from %s:%d: %s", at, b.name, r.file, r.line, firstDifference(b.text, r.text)))
		}
	}
	names := make([]string, 0, len(regs))
	for name := range regs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !used[name] {
			r := regs[name]
			errs = append(errs, fmt.Errorf("%s:%d: snippet %s is in no README block", r.file, r.line, name))
		}
	}
	return errs
}

// firstDifference describes the first line where the README's text and the file's differ.
func firstDifference(readme, file string) string {
	a, b := strings.Split(readme, "\n"), strings.Split(file, "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y || i >= len(a) || i >= len(b) {
			return fmt.Sprintf("line %d of the block is %q, the file has %q", i+1, x, y)
		}
	}
	return "they differ"
}

// updateREADME returns readme with every marked Go block replaced by its region.
func updateREADME(readme string, files map[string][]byte) (string, error) {
	regs, errs := regions(files)
	if len(errs) > 0 {
		return "", errs[0]
	}
	blocks, err := goBlocks(readme)
	if err != nil {
		return "", err
	}
	lines := strings.Split(readme, "\n")
	var out []string
	next := 0
	for _, b := range blocks {
		r, ok := regs[b.name]
		if !ok {
			continue
		}
		out = append(out, lines[next:b.start+1]...)
		out = append(out, strings.Split(strings.TrimSuffix(r.text, "\n"), "\n")...)
		next = b.end
	}
	out = append(out, lines[next:]...)
	return strings.Join(out, "\n"), nil
}
