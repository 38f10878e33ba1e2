// Package dataset generates the benchmarks' test data: the 9-column shape of the foundation
// issue, written as a CSV file with a header.
//
// # Shape
//
//	id        bigint         1..N, sorted, unique
//	name      text           "First Last"; about 1 in 200 is "Last, First" (a quoted field)
//	email     text           initial, last name and id: alast<id>@example.com
//	gender    text           F, M or Unisex
//	country   text           a country name, some with a space
//	amount    numeric(12,2)  -9999.99 to 99999.99, two decimals
//	created   timestamptz    2020-01-01 to 2024-12-31, whole seconds, UTC ("+00")
//	modified  timestamptz    created plus up to a year, always before [Horizon]
//	deleted   boolean        f (false); the incremental benchmark sets it at the source
//
// The data is a pure function of the row number and the seed, so two runs, or the
// benchmark's setup and its verification, agree without storing anything. No value is NULL,
// so every loader reads every row the same way.
//
// # Writing
//
// [WriteCSV] streams rows through a bufio.Writer with strconv appends and a hand-written
// date formatter, so 2M rows take a couple of seconds. [Columns] and [CreateTable] give the
// same shape to SQL.
package dataset
