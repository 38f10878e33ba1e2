// Package postgres loads sluice streams into PostgreSQL through the bulk path: a binary
// COPY FROM STDIN that the client encodes itself.
package postgres
