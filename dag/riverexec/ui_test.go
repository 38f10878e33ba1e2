package riverexec_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

// chromium returns the path of a Chromium binary, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: install it (Debian: apt-get install -y chromium) to test the UI in a real browser")
	return ""
}

// dumpDOM loads url in headless Chromium and returns the DOM after its scripts ran.
func dumpDOM(t *testing.T, bin, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", url)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("chromium: %v: %s", err, ee.Stderr)
	}
	require.NoError(t, err)
	return string(out)
}

// TestUIPage loads the operator page in a real browser: it shows the DAG's tasks and
// their states, the attempts with their workers, and the graph; river's UI answers
// beside it.
func TestUIPage(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	e := newEnv(t)
	x := e.executor("ui-w0")
	d := dag.New("shop", dag.Config{Executor: x, Store: e.store,
		Meta: etl.Meta{Owner: "ops@example.com", Description: "The shop's orders."}})
	d.Task("extract", func(_ context.Context, r *dag.Run) error { r.AddRows(24); return nil })
	d.Task("load", func(context.Context, *dag.Run) error { return errors.New("warehouse refused <the> rows") }).After("extract")
	d.Task("report", func(context.Context, *dag.Run) error { return nil }).After("load")
	e.work(x, d, dag.WorkOptions{})
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := x.Handler(ctx, d)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	dom := dumpDOM(t, bin, srv.URL+"/")
	require.Contains(t, dom, `<span id="dag-name">shop</span>`)
	require.Contains(t, dom, "The shop's orders. · owner ops@example.com")
	require.Contains(t, dom, `<span id="run-id">`+rep.RunID+`</span>`)
	for task, status := range map[string]dag.Status{"extract": dag.StatusSuccess, "load": dag.StatusFailed, "report": dag.StatusUpstreamFailed} {
		require.Regexp(t, regexp.MustCompile(`<tr data-task="`+task+`" data-status="`+string(status)+`"><td>`+task+`</td><td class="`+string(status)+`">`+string(status)+`</td>`), dom)
	}
	require.Contains(t, dom, "warehouse refused &lt;the&gt; rows", "errors are escaped")
	require.Contains(t, dom, "<td>ui-w0</td>", "the worker that ran each attempt")
	require.Contains(t, dom, `id="graph"`)
	require.Contains(t, dom, "extract")

	// One run by its ID; an unknown one is a 404 that still renders.
	dom = dumpDOM(t, bin, srv.URL+"/runs/"+rep.RunID)
	require.Contains(t, dom, `<span id="run-status" class="failed">failed</span>`)
	resp, err := http.Get(srv.URL + "/runs/nope")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// River's own UI is mounted beside it and its API answers.
	resp, err = http.Get(srv.URL + "/river/api/queues")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	dom = dumpDOM(t, bin, srv.URL+"/river/")
	for _, want := range []string{"<title>River</title>", `href="/river/queues"`, `href="/river/jobs?state=discarded">Discarded`} {
		require.True(t, strings.Contains(dom, want), "river's UI page lacks %q", want)
	}
}
