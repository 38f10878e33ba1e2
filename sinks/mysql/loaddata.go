package mysql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"regexp"
	"strconv"
	"strings"
	"sync"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/origin"
)

// chunk is how many encoded bytes the encoder hands to the driver at a time.
const chunk = 64 << 10

// loadData streams in's rows into table (quoted and qualified) with LOAD DATA LOCAL
// INFILE inside tx, and returns how many rows the server stored.
//
// The rows are encoded on a goroutine of their own into a pipe that the driver reads
// through a reader handler registered under a name unique to this load, so encoding
// overlaps sending and memory stays at a few chunks whatever the row count.
//
// LOAD DATA LOCAL cannot stop the client mid-file, so the server turns what would be
// errors into warnings and goes on: a value it cannot store is changed (truncated,
// rounded, zeroed) and a duplicate key skips the row. So any warning, notes included,
// fails the load, as does a stored row count that differs from the rows sent; the
// caller's transaction then rolls everything back.
func loadData(ctx context.Context, t *tx, table string, plan *loadPlan, in etl.Stream) (int64, error) {
	return loadTracked(ctx, t, table, plan, in, origin.New(in))
}

// loadTracked is loadData recording where each row came from in track, which the caller
// keeps to locate rows that a later statement refuses.
func loadTracked(ctx context.Context, t *tx, table string, plan *loadPlan, in etl.Stream, track *origin.Tracker) (int64, error) {
	var id [8]byte
	_, _ = rand.Read(id[:])
	name := "sluice-" + hex.EncodeToString(id[:])
	enc := &encoder{plan: plan, rows: in.Rows, pos: in.Position, track: track}
	mysqldriver.RegisterReaderHandler(name, enc.start)
	defer mysqldriver.DeregisterReaderHandler(name)

	q := "LOAD DATA LOCAL INFILE 'Reader::" + name + "' INTO TABLE " + table +
		" CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' " +
		plan.columnsClause()
	res, err := t.conn.ExecContext(ctx, q)
	sent, encErr := enc.wait()
	if encErr != nil {
		// The stream failed, or held a value that cannot be written: that is the cause,
		// whatever the driver made of the cut-short file.
		return 0, encErr
	}
	if err != nil {
		switch errorNumber(err) {
		case 1148, 3948, 3950:
			return 0, fmt.Errorf("table %s: the server refuses LOAD DATA LOCAL INFILE, sluice's bulk path; "+
				"enable it with SET GLOBAL local_infile = 1: %w", plan.table, err)
		}
		return 0, fmt.Errorf("table %s: load rows: %w", plan.table, err)
	}
	if err := checkWarnings(ctx, t, plan.table, "loading rows"); err != nil {
		var we *WarningsError
		if errors.As(err, &we) {
			we.locate(enc.track)
		}
		return 0, err
	}
	stored, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if stored != sent {
		return stored, fmt.Errorf("table %s: the server stored %d of the %d rows sent", plan.table, stored, sent)
	}
	return stored, nil
}

// encoder writes a stream's rows in LOAD DATA's text format into a pipe.
type encoder struct {
	plan *loadPlan
	rows iter.Seq2[etl.Row, error]
	pos  func() etl.Position // where the current row came from; nil when unknown
	// track remembers where each row came from, for the server's warnings, which name
	// rows by number once they have gone by; nil when the stream does not say.
	track *origin.Tracker

	once    sync.Once
	started bool
	pr      *io.PipeReader
	done    chan struct{}
	n       int64
	err     error
	panic   any
}

// start is the reader handler: the driver calls it when the server asks for the file,
// and closes the reader it returns when the statement ends, early or not.
func (e *encoder) start() io.Reader {
	e.once.Do(func() {
		pr, pw := io.Pipe()
		e.pr, e.started, e.done = pr, true, make(chan struct{})
		go e.encode(pw)
	})
	return e.pr
}

func (e *encoder) encode(pw *io.PipeWriter) {
	defer close(e.done)
	defer func() {
		// A panic in the stream (a transform, say) is raised again on the loading goroutine.
		if r := recover(); r != nil {
			e.panic = r
			_ = pw.CloseWithError(errors.New("the stream panicked"))
		}
	}()
	buf := make([]byte, 0, chunk+chunk/4)
	var err error
	for row, rerr := range e.rows {
		if rerr != nil {
			err = rerr
			break
		}
		e.n++
		e.track.Next()
		if buf, err = e.plan.appendRow(buf, row, e.n); err != nil {
			var ve *ValueError
			if e.pos != nil && errors.As(err, &ve) {
				p := e.pos() // the row's own position, even past the tracker's bound
				ve.Source, ve.Line = p.Source, p.Line
			}
			break
		}
		if len(buf) >= chunk {
			if _, werr := pw.Write(buf); werr != nil {
				// The driver stopped reading: the statement failed or was cancelled.
				_ = pw.CloseWithError(werr)
				return
			}
			buf = buf[:0]
		}
	}
	if err == nil && len(buf) > 0 {
		_, err = pw.Write(buf)
	}
	e.err = err
	_ = pw.CloseWithError(err) // nil: EOF
}

// wait ends the encoder and returns how many rows it sent and why it stopped early.
func (e *encoder) wait() (int64, error) {
	if !e.started {
		return 0, nil
	}
	_ = e.pr.Close()
	<-e.done
	if e.panic != nil {
		panic(e.panic)
	}
	return e.n, e.err
}

// Warning is one warning or note the server reported.
type Warning struct {
	// Level is "Note", "Warning" or "Error".
	Level string
	// Code is the server's error number, such as 1265 (data truncated) or 1062 (duplicate
	// key).
	Code int64
	// Message is the server's text; it names the column and the row.
	Message string
	// Row is the row of the stream the warning is about, from 1, when the server names
	// it and counts rows as the stream does (while loading rows); else 0.
	Row int64
	// Source and Line say where that row came from, when the stream says so (see
	// [etl.Stream.Position]).
	Source string
	Line   int64
}

// atRow finds the row number a server message ends with, as in "Data truncated for
// column 'v' at row 2".
var atRow = regexp.MustCompile(` at row (\d+)$`)

// locate numbers the warnings by the rows of the stream they are about and says where
// those rows came from. It is for the warnings of a LOAD DATA, whose rows are the
// stream's in order.
func (e *WarningsError) locate(track *origin.Tracker) {
	for i := range e.Warnings {
		w := &e.Warnings[i]
		m := atRow.FindStringSubmatch(w.Message)
		if m == nil {
			continue
		}
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			continue
		}
		w.Row = n
		if p, ok := track.Locate(n); ok {
			w.Source, w.Line = p.Source, p.Line
		}
	}
}

// WarningsError fails a load during which the server reported warnings: a value that it
// stored changed (truncated, rounded, converted) or a row that it skipped. The load is
// rolled back.
type WarningsError struct {
	// Table is the table being loaded.
	Table string
	// Step says what the load was doing, such as "loading rows".
	Step string
	// Count is how many warnings the server counted.
	Count int64
	// Warnings holds the first of them.
	Warnings []Warning
}

// Error implements the error interface.
func (e *WarningsError) Error() string {
	var b strings.Builder
	for _, w := range e.Warnings {
		if w.Source != "" {
			fmt.Fprintf(&b, "%s: line %d: ", w.Source, w.Line)
			break
		}
	}
	fmt.Fprintf(&b, "table %s: the server reported %d warnings while %s, so the load is refused rather than store changed values", e.Table, e.Count, e.Step)
	for i, w := range e.Warnings {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %d: %s", w.Level, w.Code, w.Message)
		if w.Source != "" {
			fmt.Fprintf(&b, " (%s: line %d)", w.Source, w.Line)
		}
	}
	if int64(len(e.Warnings)) < e.Count {
		b.WriteString("; ...")
	}
	return b.String()
}

// maxWarnings bounds the warnings a WarningsError carries.
const maxWarnings = 5

// checkWarnings fails with a *WarningsError when the statement that just ran left
// warnings or notes. It must run right after that statement, which it inspects through
// the connection's diagnostics area.
func checkWarnings(ctx context.Context, t *tx, table, step string) error {
	rows, err := t.QueryRows(ctx, "SHOW COUNT(*) WARNINGS")
	if err != nil {
		return fmt.Errorf("table %s: read warnings: %w", table, err)
	}
	var count int64
	if len(rows) == 1 && len(rows[0]) == 1 {
		count, _ = rows[0][0].(int64)
	}
	if count == 0 {
		return nil
	}
	we := &WarningsError{Table: table, Step: step, Count: count}
	rows, err = t.QueryRows(ctx, fmt.Sprintf("SHOW WARNINGS LIMIT %d", maxWarnings))
	if err != nil {
		return errors.Join(we, fmt.Errorf("read warnings: %w", err))
	}
	for _, r := range rows {
		if len(r) < 3 {
			continue
		}
		w := Warning{}
		w.Level, _ = r[0].(string)
		w.Code, _ = r[1].(int64)
		w.Message, _ = r[2].(string)
		we.Warnings = append(we.Warnings, w)
	}
	return we
}
