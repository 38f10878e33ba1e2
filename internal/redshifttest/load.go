package redshifttest

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// createSystemTables creates the load error tables a cluster of the configured kind has,
// in the test's schema, so that unqualified names reach them as they reach pg_catalog's
// on Redshift. The columns and their blank-padded CHAR types follow the Developer Guide's
// STL_LOAD_ERRORS and SYS_LOAD_ERROR_DETAIL pages; the rows a COPY leaves there survive
// the rollback of its transaction, as log tables do.
func (c *cluster) createSystemTables() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stmts []string
	if !c.opts.Serverless {
		stmts = append(stmts, `CREATE TABLE stl_load_errors (userid integer, slice integer, tbl integer,
			starttime timestamp, session integer, query integer, filename character(256), line_number bigint,
			colname character(127), type character(10), col_length character(10), position integer,
			raw_line character(1024), raw_field_value character(1024), err_code integer, err_reason character(100),
			is_partial integer, start_offset bigint)`)
	}
	if !c.opts.NoSysViews {
		stmts = append(stmts, `CREATE TABLE sys_load_error_detail (user_id integer, query_id bigint,
			transaction_id bigint, session_id integer, database_name character(64), table_id integer,
			start_time timestamp, file_name character(256), line_number bigint, column_name character(127),
			column_type character(10), column_length character(10), position integer, error_code integer,
			error_message character(512))`)
	}
	for _, s := range stmts {
		if _, err := c.pool.Exec(ctx, s); err != nil {
			return fmt.Errorf("create system tables: %w", err)
		}
	}
	return nil
}

// loadFault is one bad field found by a COPY: what Redshift logs in its load error
// tables.
type loadFault struct {
	file     string
	line     int64
	column   string
	colType  string
	length   string
	position int
	rawLine  string
	rawField string
	code     int
	reason   string
}

func (f *loadFault) Error() string {
	return fmt.Sprintf("%s line %d, column %s: %s (%d)", f.file, f.line, f.column, f.reason, f.code)
}

// copyFromS3 runs an intercepted COPY: it reads the objects the statement names from
// the S3 server, applies Redshift's data conversion rules, and streams the rows into
// PostgreSQL with COPY FROM STDIN. A bad field fails the COPY the way Redshift fails it:
// the error names the load error table, where the field is logged.
func (h *Harness) copyFromS3(ctx context.Context, sql string) (int64, error) {
	c, err := ParseCopy(sql)
	if err != nil {
		return 0, err
	}
	h.mu.Lock()
	aborted, sensitive := h.aborted, h.caseSensitive
	h.mu.Unlock()
	if aborted {
		// An aborted PostgreSQL transaction would reject the COPY anyway.
		return 0, errors.New("redshifttest: transaction aborted")
	}
	if !sensitive {
		for i := range c.Table {
			c.Table[i] = foldName(c.Table[i])
		}
		for i := range c.Columns {
			c.Columns[i] = foldName(c.Columns[i])
		}
	}
	if err := h.checkRegion(c); err != nil {
		return 0, err
	}
	table := pgx.Identifier(c.Table).Sanitize()
	cols, err := h.columns(ctx, table, c.Columns)
	if err != nil {
		return 0, err
	}
	objs, err := h.objects(ctx, c)
	if err != nil {
		return 0, err
	}
	// The COPY ID changes once the load begins, failed or not (PG_LAST_COPY_ID).
	id := h.c.nextQueryID()
	h.mu.Lock()
	h.lastCopyID, h.lastCopy = id, 0
	h.mu.Unlock()

	names := make([]string, len(cols))
	for i, col := range cols {
		names[i] = pgx.Identifier{col.name}.Sanitize()
	}
	cv := &converter{h: h, c: c, cols: cols}
	pr, pw := io.Pipe()
	converted := make(chan struct{})
	go func() {
		defer close(converted)
		err := cv.convert(ctx, objs, pw)
		if lf := (*loadFault)(nil); errors.As(err, &lf) {
			cv.fault = lf
		}
		pw.CloseWithError(err)
	}()
	tag, err := h.Conn.PgConn().CopyFrom(ctx, pr, "COPY "+table+" ("+strings.Join(names, ", ")+") FROM STDIN (FORMAT csv)")
	// Stop the converter, and wait for it, so that no S3 read outlives the statement
	// (or the test and its server).
	_ = pr.CloseWithError(errors.New("copy ended"))
	<-converted
	if err != nil {
		// The converter's fault, if any, is why PostgreSQL's COPY stopped.
		lf := cv.fault
		if lf == nil {
			lf = cv.faultOf(err)
		}
		if lf == nil {
			return 0, fmt.Errorf("redshifttest: COPY into %s: %w", table, err)
		}
		h.logLoadFault(id, lf)
		view := "stl_load_errors"
		if h.c.opts.Serverless {
			view = "sys_load_error_detail"
		}
		return 0, loadError(c.Table[len(c.Table)-1], view)
	}
	h.c.mu.Lock()
	miscount := h.c.miscount
	h.c.miscount = 0
	h.c.mu.Unlock()
	h.mu.Lock()
	h.lastCopy = tag.RowsAffected() + miscount
	h.mu.Unlock()
	return tag.RowsAffected(), nil
}

// checkRegion fails a COPY that would reach a bucket in another region than the one it
// names (or the cluster's, without REGION), with the error the Developer Guide quotes for
// it ("Load fails": "The bucket you are attempting to access must be addressed using the
// specified endpoint").
func (h *Harness) checkRegion(c *CopyCommand) error {
	region := c.Region
	if region == "" {
		region = h.c.opts.Region
	}
	if region == h.c.s3.Region {
		return nil
	}
	return &pgconn.PgError{Severity: "ERROR", Code: "XX000",
		Message: "S3ServiceException:The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.,Status 301,Error PermanentRedirect"}
}

// logLoadFault writes f to the cluster's load error tables, outside the session's
// transaction, as Redshift's logging does.
func (h *Harness) logLoadFault(query int64, f *loadFault) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now().UTC()
	if !h.c.opts.Serverless {
		_, err := h.c.pool.Exec(ctx, `INSERT INTO stl_load_errors (userid, slice, tbl, starttime, session, query,
			filename, line_number, colname, type, col_length, position, raw_line, raw_field_value, err_code, err_reason)
			VALUES (100, 0, 0, $1, 0, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			now, query, cut(f.file, 256), f.line, cut(f.column, 127), cut(f.colType, 10), cut(f.length, 10), f.position,
			cut(dotMultibyte(f.rawLine), 1024), cut(dotMultibyte(f.rawField), 1024), f.code, cut(f.reason, 100))
		if err != nil {
			h.c.tb.Errorf("redshifttest: log load error: %v", err)
		}
	}
	if !h.c.opts.NoSysViews {
		_, err := h.c.pool.Exec(ctx, `INSERT INTO sys_load_error_detail (user_id, query_id, transaction_id, session_id,
			database_name, table_id, start_time, file_name, line_number, column_name, column_type, column_length,
			position, error_code, error_message) VALUES (100, $1, 0, 0, 'dev', 0, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			query, now, cut(f.file, 256), f.line, cut(f.column, 127), cut(f.colType, 10), cut(f.length, 10), f.position,
			f.code, cut(f.reason, 512))
		if err != nil {
			h.c.tb.Errorf("redshifttest: log load error: %v", err)
		}
	}
}

// dotMultibyte replaces each multibyte character with a period, as STL_LOAD_ERRORS does
// with raw_line ("Multibyte characters in the load data are replaced with a period").
// The guide says so of raw_line and of STL_LOADERROR_DETAIL's value; that raw_field_value
// is treated alike is an assumption, the conservative one for a reader of the log.
func dotMultibyte(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= utf8.RuneSelf {
			b.WriteByte('.')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cut shortens s to at most n characters, the width of a CHAR(n) log column.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// column is a target column and the rules COPY applies to its fields.
type column struct {
	name    string
	typ     string // PostgreSQL's format_type
	text    bool   // char/varchar/text: an empty field is an empty string unless EMPTYASNULL
	char    bool   // CHAR: single-byte characters only
	length  int    // byte limit of a character column
	numeric bool
	scale   int
}

var (
	lengthRE  = regexp.MustCompile(`^character(?: varying)?\((\d+)\)$`)
	numericRE = regexp.MustCompile(`^numeric\((\d+),(\d+)\)$`)
)

func (h *Harness) columns(ctx context.Context, table string, want []string) ([]column, error) {
	rows, err := h.Conn.Query(ctx, `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, table)
	if err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: table %s: %w", table, err)
	}
	var all []column
	for rows.Next() {
		var col column
		if err := rows.Scan(&col.name, &col.typ); err != nil {
			return nil, err
		}
		col.text = col.typ == "text" || strings.HasPrefix(col.typ, "character")
		col.char = strings.HasPrefix(col.typ, "character(")
		switch m := lengthRE.FindStringSubmatch(col.typ); {
		case m != nil:
			col.length, _ = strconv.Atoi(m[1])
		case col.typ == "text":
			// TEXT is VARCHAR(256) on Redshift (Character types).
			col.length = 256
		}
		if m := numericRE.FindStringSubmatch(col.typ); m != nil {
			col.numeric = true
			col.scale, _ = strconv.Atoi(m[2])
		}
		all = append(all, col)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: table %s: %w", table, err)
	}
	if len(want) == 0 {
		return all, nil
	}
	out := make([]column, len(want))
	for i, w := range want {
		found := false
		for _, c := range all {
			if c.name == w {
				out[i], found = c, true
			}
		}
		if !found {
			return nil, fmt.Errorf("redshifttest: COPY: column %q does not exist in %s", w, table)
		}
	}
	return out, nil
}

// splitS3 splits s3://bucket/key. The key is taken as it is, with no percent-decoding.
func splitS3(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("redshifttest: %q is not an s3://bucket/key URL", u)
	}
	return bucket, key, nil
}

type object struct{ bucket, key string }

func (o object) url() string { return "s3://" + o.bucket + "/" + o.key }

// objects lists what the COPY reads: the manifest's entries, or every key under the
// FROM prefix.
func (h *Harness) objects(ctx context.Context, c *CopyCommand) ([]object, error) {
	bucket, key, err := splitS3(c.From)
	if err != nil {
		return nil, err
	}
	if !c.Manifest {
		var objs []object
		pages := s3.NewListObjectsV2Paginator(h.S3.Client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("redshifttest: list %s: %w", c.From, err)
			}
			for _, o := range page.Contents {
				objs = append(objs, object{bucket, aws.ToString(o.Key)})
			}
		}
		if len(objs) == 0 {
			return nil, fmt.Errorf("redshifttest: COPY: the specified S3 prefix %q does not exist", c.From)
		}
		return objs, nil
	}
	out, err := h.S3.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: read manifest %s: %w", c.From, err)
	}
	defer out.Body.Close()
	var m struct {
		Entries []struct {
			URL       string `json:"url"`
			Mandatory bool   `json:"mandatory"`
			Meta      struct {
				ContentLength *int64 `json:"content_length"`
			} `json:"meta"`
		} `json:"entries"`
	}
	dec := json.NewDecoder(out.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("redshifttest: COPY: manifest %s: %w", c.From, err)
	}
	var objs []object
	for _, e := range m.Entries {
		b, k, err := splitS3(e.URL)
		if err != nil {
			return nil, err
		}
		head, err := h.S3.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String(k)})
		if err != nil {
			if e.Mandatory {
				return nil, fmt.Errorf("redshifttest: COPY: mandatory manifest entry %s: %w", e.URL, err)
			}
			continue
		}
		if e.Meta.ContentLength != nil && aws.ToInt64(head.ContentLength) != *e.Meta.ContentLength {
			return nil, fmt.Errorf("redshifttest: COPY: %s is %d bytes, manifest says %d", e.URL, aws.ToInt64(head.ContentLength), *e.Meta.ContentLength)
		}
		objs = append(objs, object{b, k})
	}
	return objs, nil
}

// converter rewrites Redshift CSV as PostgreSQL CSV, applying Redshift's rules for each
// field, and remembers where each record came from, so that a failure PostgreSQL finds
// can be logged against its file and line.
type converter struct {
	h    *Harness
	c    *CopyCommand
	cols []column

	// origins maps each converted record, in order, to its object and line.
	origins []origin
	// fault is the bad field that stopped the conversion, if one did.
	fault *loadFault
}

type origin struct {
	obj    int
	line   int
	fields []field
}

// convert writes every object's records to w. Redshift's rules, from the Developer
// Guide's COPY pages:
//   - a field equal to NULL AS (quoted or not, the conservative reading) is NULL; an
//     empty field is NULL in a non-text column, and in a text column only with
//     EMPTYASNULL;
//   - VARCHAR(n) and CHAR(n) hold n bytes, not characters ("CHAR and VARCHAR data types
//     are defined in terms of bytes, not characters", Character types), and TEXT is
//     VARCHAR(256): a longer value fails the load with error 1204;
//   - CHAR holds single-byte characters only ("A CHAR column can only contain
//     single-byte characters");
//   - invalid UTF-8 fails the load (error 1220) unless ACCEPTINVCHARS, which the harness
//     does not accept;
//   - a decimal with more fractional digits than the column's scale is truncated,
//     unless ROUNDEC, which rounds ("By default, COPY truncates values when necessary to
//     fit the scale of the column", Data conversion parameters, ROUNDEC). PostgreSQL
//     rounds half away from zero on input, so with ROUNDEC the value goes through as it
//     is.
func (cv *converter) convert(ctx context.Context, objs []object, w io.Writer) error {
	bw := make([]byte, 0, 64<<10)
	var fields []field
	for oi, o := range objs {
		out, err := cv.h.S3.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key)})
		if err != nil {
			return fmt.Errorf("%s: %w", o.url(), err)
		}
		var r io.Reader = out.Body
		if cv.c.GZIP {
			zr, err := gzip.NewReader(out.Body)
			if err != nil {
				out.Body.Close()
				return fmt.Errorf("%s: %w", o.url(), err)
			}
			r = zr
		}
		cr := newCSVReader(r)
		err = cr.skipLines(cv.c.IgnoreHeader)
		for err == nil {
			fields, err = cr.read(fields)
			if err != nil {
				break
			}
			if len(fields) != len(cv.cols) {
				// 1202: more columns than the DDL defines; 1203: fewer (Load error reference).
				lf := &loadFault{file: o.url(), line: int64(cr.line), rawLine: rawLine(fields), code: 1202,
					reason: fmt.Sprintf("Extra column(s) found (%d fields for %d columns)", len(fields), len(cv.cols))}
				if len(fields) < len(cv.cols) {
					lf.code, lf.reason = 1203, fmt.Sprintf("Delimiter not found (%d fields for %d columns)", len(fields), len(cv.cols))
				}
				err = lf
				break
			}
			cv.origins = append(cv.origins, origin{obj: oi, line: cr.line, fields: append([]field(nil), fields...)})
			for i, f := range fields {
				if i > 0 {
					bw = append(bw, ',')
				}
				col := cv.cols[i]
				null := (cv.c.HasNull && f.value == cv.c.Null) ||
					(f.value == "" && !f.quoted && !col.text) ||
					(f.value == "" && col.text && cv.c.EmptyAsNull)
				if null {
					continue
				}
				v, ferr := cv.field(col, f.value)
				if ferr != nil {
					ferr.file, ferr.line, ferr.rawLine = o.url(), int64(cr.line), rawLine(fields)
					err = ferr
					break
				}
				bw = append(bw, '"')
				bw = append(bw, strings.ReplaceAll(v, `"`, `""`)...)
				bw = append(bw, '"')
			}
			if err != nil {
				break
			}
			bw = append(bw, '\n')
			if len(bw) >= 32<<10 {
				if _, werr := w.Write(bw); werr != nil {
					err = werr
					break
				}
				bw = bw[:0]
			}
		}
		out.Body.Close()
		if err != io.EOF {
			var lf *loadFault
			if errors.As(err, &lf) {
				return lf
			}
			return fmt.Errorf("%s: %w", o.url(), err)
		}
	}
	_, err := w.Write(bw)
	return err
}

// field applies the column's rules to one non-NULL value.
func (cv *converter) field(col column, v string) (string, *loadFault) {
	fault := func(code int, reason string) *loadFault {
		length := ""
		if col.length > 0 {
			length = strconv.Itoa(col.length)
		}
		return &loadFault{column: col.name, colType: redshiftType(col.typ), length: length, rawField: v, code: code, reason: reason}
	}
	if col.text {
		if !utf8.ValidString(v) {
			return "", fault(1220, "String contains invalid or unsupported UTF8 codepoints.")
		}
		if col.char {
			for i := 0; i < len(v); i++ {
				if v[i] >= utf8.RuneSelf {
					return "", fault(1220, "Multibyte character not supported for CHAR (Hint: try using VARCHAR).")
				}
			}
		}
		if col.length > 0 && len(v) > col.length {
			return "", fault(1204, "String length exceeds DDL length")
		}
		return v, nil
	}
	if col.numeric && !cv.c.RoundDec {
		return truncateScale(v, col.scale), nil
	}
	return v, nil
}

// truncateScale cuts the fractional digits of a plain decimal beyond scale, toward zero.
// Anything that is not a plain decimal goes through for PostgreSQL to judge.
func truncateScale(v string, scale int) string {
	dot := strings.IndexByte(v, '.')
	if dot < 0 {
		return v
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c == '.' || (i == 0 && (c == '-' || c == '+'))) {
			return v
		}
	}
	if len(v)-dot-1 <= scale {
		return v
	}
	if scale == 0 {
		return v[:dot]
	}
	return v[:dot+1+scale]
}

// redshiftType names a PostgreSQL column type the way Redshift's load error tables do.
func redshiftType(pg string) string {
	switch {
	case strings.HasPrefix(pg, "character varying"), pg == "text":
		return "varchar"
	case strings.HasPrefix(pg, "character"):
		return "char"
	case strings.HasPrefix(pg, "numeric"):
		return "numeric"
	case pg == "bigint":
		return "int8"
	case pg == "integer":
		return "int4"
	case pg == "smallint":
		return "int2"
	case pg == "double precision":
		return "float8"
	case pg == "boolean":
		return "bool"
	case pg == "timestamp with time zone":
		return "timestamptz"
	case pg == "timestamp without time zone":
		return "timestamp"
	}
	return pg
}

// rawLine puts a record back together as CSV for the raw_line column.
func rawLine(fields []field) string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		if f.quoted {
			b.WriteString(`"` + strings.ReplaceAll(f.value, `"`, `""`) + `"`)
		} else {
			b.WriteString(f.value)
		}
	}
	return b.String()
}

// whereRE reads PostgreSQL's COPY error context: "COPY t, line 3, column amount: ...".
var whereRE = regexp.MustCompile(`COPY [^,]+, line (\d+)(?:, column ([^:]+))?`)

// faultOf turns a failure PostgreSQL found while copying into the load fault Redshift
// would log for it, placed by the record it came from. Errors that are no fault of the
// data (a connection lost, say) give nil.
func (cv *converter) faultOf(err error) *loadFault {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Code, "22") && !strings.HasPrefix(pe.Code, "23") {
		return nil
	}
	m := whereRE.FindStringSubmatch(pe.Where)
	if m == nil {
		return nil
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 || n > len(cv.origins) {
		return nil
	}
	o := cv.origins[n-1]
	f := &loadFault{line: int64(o.line), rawLine: rawLine(o.fields), code: 1216, reason: pe.Message}
	bucket, key, _ := splitS3(cv.c.From)
	f.file = object{bucket, key}.url()
	if objs, oerr := cv.h.objects(context.Background(), cv.c); oerr == nil && o.obj < len(objs) {
		f.file = objs[o.obj].url()
	}
	for i, col := range cv.cols {
		if col.name != m[2] {
			continue
		}
		f.column, f.colType, f.rawField = col.name, redshiftType(col.typ), o.fields[i].value
		switch pe.Code {
		case "22003", "22001":
			f.code = 1204
		case "22007", "22008":
			f.code = 1205
			if strings.HasPrefix(col.typ, "timestamp") {
				f.code = 1206
			}
		case "22P02":
			switch redshiftType(col.typ) {
			case "int2", "int4", "int8":
				f.code = 1207
			case "float8":
				f.code = 1208
			case "numeric":
				f.code = 1209
			case "bool":
				f.code = 1210
			}
		case "23502":
			f.code = 1213
		}
	}
	return f
}
