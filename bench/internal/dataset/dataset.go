package dataset

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// Horizon is later than every generated modified time, so a watermark at Horizon selects
// no generated row, and rows touched after generation can be stamped from it.
var Horizon = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultSeed is the seed the benchmarks use.
const DefaultSeed uint64 = 0x5eed_511ce

// Columns is the shape as SQL column definitions, in CSV order, without constraints.
const Columns = `id bigint NOT NULL,
	name text NOT NULL,
	email text NOT NULL,
	gender text NOT NULL,
	country text NOT NULL,
	amount numeric(12,2) NOT NULL,
	created timestamptz NOT NULL,
	modified timestamptz NOT NULL,
	deleted boolean NOT NULL`

// ColumnNames lists the columns in CSV order.
var ColumnNames = []string{"id", "name", "email", "gender", "country", "amount", "created", "modified", "deleted"}

// Schema is the shape as an [etl.Schema].
var Schema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText, NotNull: true},
	{Name: "email", Type: etl.TypeText, NotNull: true},
	{Name: "gender", Type: etl.TypeText, NotNull: true},
	{Name: "country", Type: etl.TypeText, NotNull: true},
	{Name: "amount", Type: etl.TypeNumeric, NotNull: true},
	{Name: "created", Type: etl.TypeTimestamp, NotNull: true},
	{Name: "modified", Type: etl.TypeTimestamp, NotNull: true},
	{Name: "deleted", Type: etl.TypeBool, NotNull: true},
}

// CreateTable returns a CREATE TABLE statement for the shape under qualified, an already
// quoted name. With pk, id is the primary key.
func CreateTable(qualified string, pk bool) string {
	s := "CREATE TABLE " + qualified + " (\n\t" + Columns
	if pk {
		s += ",\n\tPRIMARY KEY (id)"
	}
	return s + "\n)"
}

var (
	firstNames = []string{
		"Adaleigh", "Amryn", "Apurva", "Aaliyah", "Bernardo", "Chen", "Dagny", "Eitan", "Farah",
		"Gustavo", "Hana", "Ifeoma", "Jonas", "Kavya", "Lucia", "Mateo", "Noor", "Olusegun",
		"Priya", "Quentin", "Rosalind", "Soren", "Tamsin", "Uriel", "Valentina", "Wei", "Ximena",
		"Yusuf", "Zofia", "Alex", "Robin", "Sam",
	}
	lastNames = []string{
		"Okafor", "Nakamura", "Fernandez", "Schmidt", "Kowalski", "Haddad", "Lindqvist",
		"Moreau", "Oyelaran", "Petrov", "Quispe", "Rossi", "Sato", "Tran", "Underwood", "Varga",
		"Whitfield", "Xu", "Yilmaz", "Zhou", "O'Neil", "Abara",
	}
	genders   = []string{"F", "M", "Unisex"}
	countries = []string{
		"Portugal", "Nigeria", "Japan", "Brazil", "Germany", "India", "Canada", "Mexico",
		"South Korea", "Kenya", "Poland", "Vietnam", "New Zealand", "Egypt", "Chile", "Norway",
	}
	lowerFirst, lowerLast = lowerAll(firstNames), lowerAll(lastNames)
)

func lowerAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(strings.ReplaceAll(s, "'", ""))
	}
	return out
}

// Row is one generated row in typed form.
type Row struct {
	ID    int64
	First string
	Last  string
	// EmailPrefix is the e-mail's local part before the id: the address is
	// EmailPrefix + id + "@example.com".
	EmailPrefix string
	Gender      string
	Country     string
	Cents       int64 // amount * 100
	Created     int64 // Unix seconds
	Modified    int64 // Unix seconds
	// Quoted reports a row whose name is written "Last, First", which needs CSV quoting.
	Quoted bool
}

const (
	createdFrom = 1577836800 // 2020-01-01T00:00:00Z
	createdSpan = 5 * 365 * 24 * 3600
	modifySpan  = 365 * 24 * 3600
)

// splitmix64 is a stateless mixer: every field of every row comes from mixing the seed, the
// row number and the field number, so rows can be generated in any order.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Generate returns row number id (1-based) for seed.
func Generate(seed uint64, id int64) Row {
	h := splitmix64(seed ^ uint64(id)*0x2545f4914f6cdd1d)
	h2 := splitmix64(h)
	h3 := splitmix64(h2)
	fi, li := int(h%uint64(len(firstNames))), int((h>>16)%uint64(len(lastNames)))
	r := Row{
		ID:          id,
		First:       firstNames[fi],
		Last:        lastNames[li],
		EmailPrefix: lowerFirst[fi][:1] + lowerLast[li],
		Gender:      genders[(h>>32)%uint64(len(genders))],
		Country:     countries[(h>>40)%uint64(len(countries))],
		Quoted:      (h>>48)%200 == 0,
	}
	r.Cents = int64(h2%11_000_000) - 1_000_000 // -10000.00 < amount < 100000.00
	r.Created = createdFrom + int64(h3%createdSpan)
	r.Modified = r.Created + int64((h3>>32)%modifySpan)
	return r
}

// AppendCSV appends r as one CSV record (with its newline) to b.
func AppendCSV(b []byte, r *Row) []byte {
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, ',')
	if r.Quoted {
		b = append(b, '"')
		b = append(b, r.Last...)
		b = append(b, ", "...)
		b = append(b, r.First...)
		b = append(b, '"')
	} else {
		b = append(b, r.First...)
		b = append(b, ' ')
		b = append(b, r.Last...)
	}
	b = append(b, ',')
	b = append(b, r.EmailPrefix...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, "@example.com,"...)
	b = append(b, r.Gender...)
	b = append(b, ',')
	b = append(b, r.Country...)
	b = append(b, ',')
	b = AppendCents(b, r.Cents)
	b = append(b, ',')
	b = AppendTimestamp(b, r.Created)
	b = append(b, ',')
	b = AppendTimestamp(b, r.Modified)
	b = append(b, ",f\n"...)
	return b
}

// AppendCents appends cents/100 with exactly two decimals, such as "-0.05".
func AppendCents(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	c := cents % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}

// AppendTimestamp appends Unix time sec as "2006-01-02 15:04:05+00", the form psql prints
// for timestamptz in UTC.
func AppendTimestamp(b []byte, sec int64) []byte {
	days, rem := sec/86400, sec%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	y, m, d := civil(days)
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, ' ')
	b = append2(b, int(rem/3600))
	b = append(b, ':')
	b = append2(b, int(rem/60%60))
	b = append(b, ':')
	b = append2(b, int(rem%60))
	return append(b, "+00"...)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
// civil_from_days).
func civil(z int64) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// InsertOldVersion returns an INSERT that fills qualified (an already quoted name) with
// rows 1..rows of an "old version" of the data, generated by the server: same ids, other
// values. The full-refresh benchmark puts it in place before each run, so every load
// replaces a full table, as a nightly refresh does.
func InsertOldVersion(qualified string, rows int64) string {
	return "INSERT INTO " + qualified + ` (id, name, email, gender, country, amount, created, modified, deleted)
SELECT g, 'Old Name ' || g, 'old' || g || '@example.org', (ARRAY['F','M','Unisex'])[g % 3 + 1],
	'Atlantis', (g % 1000000) / 100.0, timestamptz '2019-01-01 00:00:00+00' + g * interval '1 second',
	timestamptz '2019-06-01 00:00:00+00' + g * interval '1 second', false
FROM generate_series(1::bigint, ` + strconv.FormatInt(rows, 10) + `) AS g`
}

// Header is the CSV header line.
func Header() string { return strings.Join(ColumnNames, ",") + "\n" }

// WriteCSV writes the header and rows 1..rows for seed to w, and returns the bytes written.
func WriteCSV(w io.Writer, rows int64, seed uint64) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	n, err := bw.WriteString(Header())
	written := int64(n)
	if err != nil {
		return written, err
	}
	buf := make([]byte, 0, 256)
	for id := int64(1); id <= rows; id++ {
		r := Generate(seed, id)
		buf = AppendCSV(buf[:0], &r)
		n, err := bw.Write(buf)
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, bw.Flush()
}

// File is a generated CSV file on disk.
type File struct {
	Path  string
	Rows  int64
	Bytes int64
}

// CreateFile writes the CSV for rows and seed to a new file in dir (the system temp
// directory when empty). The caller removes it.
func CreateFile(dir string, rows int64, seed uint64) (File, error) {
	f, err := os.CreateTemp(dir, fmt.Sprintf("sluice-bench-%d-*.csv", rows))
	if err != nil {
		return File{}, err
	}
	n, err := WriteCSV(f, rows, seed)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return File{}, fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return File{Path: f.Name(), Rows: rows, Bytes: n}, nil
}
