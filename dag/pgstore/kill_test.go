package pgstore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// The DAG program TestSIGKILLedDAGRunIsAbandoned kills: the test binary, re-run with these
// variables set, running the DAG through MainArgs as a cron job would.
const (
	killURL    = "SLUICE_PGSTORE_KILL_URL"
	killSchema = "SLUICE_PGSTORE_KILL_SCHEMA"
)

func nightly(schema string, task func(context.Context, *dag.Run) error) *dag.DAG {
	d := dag.New("nightly", dag.Config{Every: 24 * time.Hour,
		OpenStore: func(ctx context.Context, dsn string) (dag.Store, error) {
			return pgstore.OpenConfig(ctx, dsn, pgstore.Config{Schema: schema})
		}})
	d.Task("load", task)
	return d
}

func TestKilledDAGChild(t *testing.T) {
	url := os.Getenv(killURL)
	if url == "" {
		t.Skip("the DAG program that TestSIGKILLedDAGRunIsAbandoned starts and kills")
	}
	d := nightly(os.Getenv(killSchema), func(ctx context.Context, r *dag.Run) error {
		fmt.Println("RUN " + r.ID)
		fmt.Println("KILLME")
		time.Sleep(time.Hour)
		return nil
	})
	os.Exit(dag.MainArgs(context.Background(), d, []string{"run", "--store", url, "--logical-date", "2026-01-01"}, os.Stdout, os.Stderr))
}

// A DAG run SIGKILLed mid-task stays "running" in the store; the next invocation, which
// gets the lock since it died with the killed session, marks it abandoned, and
// `history --failed` lists it.
func TestSIGKILLedDAGRunIsAbandoned(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledDAGChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killURL+"="+db.URL, killSchema+"="+db.Schema)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(out)
	var runID string
	for lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), "RUN "); ok {
			runID = id
		}
		if lines.Text() == "KILLME" {
			break
		}
	}
	require.NotEmpty(t, runID)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	d := nightly(db.Schema, func(context.Context, *dag.Run) error { return nil })
	cli := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := dag.MainArgs(context.Background(), d, append(args, "--store", db.URL), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	code, out1 := cli("history", "--failed")
	require.Equal(t, dag.ExitOK, code, out1)
	require.Equal(t, "no runs\n", out1, "before another run takes the lock, nothing proves the run is dead")

	// The killed session's lock goes when the server notices; the next run may have to
	// try again, as cron would.
	require.Eventually(t, func() bool {
		code, _ := cli("run", "--logical-date", "2026-01-02")
		return code == dag.ExitOK
	}, 30*time.Second, 50*time.Millisecond)

	code, text := cli("history", "--failed")
	require.Equal(t, dag.ExitOK, code, text)
	require.Contains(t, text, runID)
	require.Regexp(t, runID+`\s+\S+\s+abandoned\s+2026-01-01T00:00:00Z/2026-01-02T00:00:00Z`, text)
	require.Contains(t, text, "abandoned: the process running it ended")

	code, text = cli("backfill", "--from", "2026-01-01", "--to", "2026-01-02", "--dry-run")
	require.Equal(t, dag.ExitOK, code, text)
	require.Contains(t, text, "last run "+runID+" abandoned", "a backfill runs the window again")
}
