package etl

import "strings"

// Meta documents a pipeline: who asked for it, what it is, and what it reads and writes.
type Meta struct {
	// Owner is the business owner: who asked for this data and answers for it.
	Owner string `json:"owner,omitempty"`
	// Description says what the pipeline produces and why.
	Description string `json:"description,omitempty"`
	// Tags are free-form labels for search and grouping.
	Tags []string `json:"tags,omitempty"`
	// Schedule is a hint for people, such as "daily 02:00 UTC"; the scheduler is yours.
	Schedule string `json:"schedule,omitempty"`
	// Inputs and Outputs are the datasets read and written, in addition to those the
	// source and sink report through [Lineage].
	Inputs  []Dataset `json:"inputs,omitempty"`
	Outputs []Dataset `json:"outputs,omitempty"`
}

// Dataset names a table, file or object prefix, following OpenLineage naming: a namespace
// such as "postgres://host:5432" or "s3://bucket", and a name such as "db.schema.table" or
// "prefix/file.csv".
type Dataset struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Schema lists the dataset's columns when known.
	Schema Schema `json:"-"`
}

// String returns the dataset as OpenLineage's URI form: namespace and name joined by
// "/", such as "postgres://h:5432/db.s.t", and a namespace without an authority ("file")
// as a URI with an empty one, such as "file:///data/in.csv".
func (d Dataset) String() string {
	switch {
	case d.Namespace == "":
		return d.Name
	case !strings.Contains(d.Namespace, ":"):
		return d.Namespace + "://" + d.Name
	}
	return d.Namespace + "/" + d.Name
}

// Lineage is implemented by sources and sinks that know which datasets they read or
// write. [Pipeline.Lineage] asks the source for its inputs and the sink for its outputs.
type Lineage interface {
	Datasets() []Dataset
}
