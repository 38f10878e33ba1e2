package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// The loader TestSIGKILLedRunIsMarkedAbandoned kills: the test binary itself, re-run with
// this variable naming the database file.
const abandonDB = "SLUICE_SQLITE_ABANDON_DB"

var killSchema = etl.Schema{{Name: "id", Type: etl.TypeInt64}}

func TestAbandonChild(t *testing.T) {
	path := os.Getenv(abandonDB)
	if path == "" {
		t.Skip("the loader that TestSIGKILLedRunIsMarkedAbandoned starts and kills")
	}
	db, err := Open(path)
	require.NoError(t, err)
	run := etl.NewRun("abandoned", etl.Window{})
	fmt.Println("RUN " + run.ID)
	src := etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: killSchema, Rows: func(yield func(etl.Row, error) bool) {
			for i := range int64(1000) {
				if i == 500 {
					fmt.Println("KILLME")
					time.Sleep(time.Hour)
				}
				if !yield(etl.Row{i}, nil) {
					return
				}
			}
		}}, nil
	})
	_, err = (&etl.Pipeline{Name: "abandoned", Source: src, Sink: &FullRefresh{Target: Target{DB: db, Table: "t", Create: true}}}).RunWith(context.Background(), run)
	require.NoError(t, err)
}

// A run killed mid-load leaves its record running, and the next run, which gets the lock
// at once since the kernel drops a dead process's file lock, marks it abandoned.
func TestSIGKILLedRunIsMarkedAbandoned(t *testing.T) {
	t.Parallel()
	if !crossProcess {
		t.Skip("the pipeline lock does not hold across processes here")
	}
	path := filepath.Join(t.TempDir(), "killed.db")
	db, err := Open(path)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	load := func() error {
		_, err := (&etl.Pipeline{Name: "abandoned", Sink: &FullRefresh{Target: Target{DB: db, Table: "t", Create: true}},
			Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
				return etl.SliceStream(killSchema, []etl.Row{{int64(1)}}), nil
			})}).Run(ctx, etl.Window{})
		return err
	}
	require.NoError(t, load())

	cmd := exec.Command(os.Args[0], "-test.run=^TestAbandonChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), abandonDB+"="+path)
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
	status := func() string {
		rows, err := queryRows(ctx, db.SQL(), "SELECT status FROM sluice_runs WHERE run_id = ?", runID)
		require.NoError(t, err)
		require.Len(t, rows, 1)
		return rows[0][0].(string)
	}
	require.Equal(t, "running", status())
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	require.NoError(t, load(), "the dead process's lock is gone")
	require.Equal(t, "abandoned", status())
	runs, err := (&State{DB: db}).Runs(ctx, "abandoned", 0)
	require.NoError(t, err)
	require.Len(t, runs, 3)
	for _, r := range runs {
		if r.RunID == runID {
			require.Contains(t, r.Error, "ended without recording how")
			require.False(t, r.Finished.IsZero())
		}
	}
}
