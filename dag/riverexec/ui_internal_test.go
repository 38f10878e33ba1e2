package riverexec

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func renderPage(t *testing.T, mermaidURL string) string {
	t.Helper()
	var data pageData
	data.DAG, data.Graph = "shop", "flowchart LR"
	data.setMermaid(mermaidURL)
	var b strings.Builder
	require.NoError(t, pageTemplate.Execute(&b, data))
	return b.String()
}

// TestUIPageChecksMermaidsIntegrity: the page loads the default Mermaid, from a CDN, at
// an exact version and with its Subresource Integrity, so that a browser runs no other
// bytes than the published ones.
func TestUIPageChecksMermaidsIntegrity(t *testing.T) {
	t.Parallel()
	require.Regexp(t, `^https://cdn\.jsdelivr\.net/npm/mermaid@\d+\.\d+\.\d+/dist/mermaid\.min\.js$`, defaultMermaidURL,
		"an integrity hash needs an exact version, never a tag that moves")
	require.Regexp(t, `^sha384-[A-Za-z0-9+/]{64}$`, mermaidIntegrity)
	version := regexp.MustCompile(`@(\d+\.\d+\.\d+)/`).FindStringSubmatch(defaultMermaidURL)[1]
	require.Contains(t, mermaidIntegrityDoc(t), "mermaid@"+version, "the hash's comment names the version it was taken from")

	page := renderPage(t, defaultMermaidURL)
	scripts := regexp.MustCompile(`<script[^>]*\bsrc=[^>]*>`).FindAllString(page, -1)
	require.Equal(t, []string{`<script src="` + defaultMermaidURL + `" integrity="` + mermaidIntegrity + `" crossorigin="anonymous">`}, scripts)
	require.Contains(t, page, "mermaid.initialize(")

	// A URL of one's own is loaded as given: its hash is not known here.
	page = renderPage(t, "/static/mermaid.min.js")
	require.Contains(t, page, `<script src="/static/mermaid.min.js">`)
	require.NotContains(t, page, "integrity=")

	page = renderPage(t, "-")
	require.NotContains(t, page, "<script")
	require.Contains(t, page, "flowchart LR", "without a script, the page shows the graph's source")
}

// mermaidIntegrityDoc returns the comment above mermaidIntegrity in ui.go.
func mermaidIntegrityDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("ui.go")
	require.NoError(t, err)
	src := string(b)
	i := strings.Index(src, "const mermaidIntegrity")
	require.Positive(t, i)
	j := strings.LastIndex(src[:i], "\n\n")
	return src[j:i]
}
