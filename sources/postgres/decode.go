package postgres

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluice-etl/sluice/etl"
)

// kind says how one result column is decoded from the wire.
type kind uint8

const (
	kindText    kind = iota + 1 // any type, in PostgreSQL's text output form
	kindInt2                    // binary int2
	kindInt4                    // binary int4
	kindInt8                    // binary int8
	kindOID                     // binary oid (uint32)
	kindFloat4                  // binary float4
	kindFloat8                  // binary float8
	kindBool                    // binary bool
	kindNumeric                 // numeric in text form: exact, no float rounding
	kindJSONB                   // binary jsonb: a version byte, then the text
	kindBytea                   // binary bytea
	kindTime                    // binary timestamp or timestamptz
	kindDate                    // binary date
	kindUUID                    // binary uuid
)

// wire is how a result column is fetched and what it becomes.
type wire struct {
	kind   kind
	typ    etl.Type
	format int16
}

// wireFor maps a result column's type OID to its decoder. Types without a mapping come in
// PostgreSQL's text form as [etl.TypeText], so enums, inet, interval and arrays still flow.
func wireFor(oid uint32) wire {
	bin := func(k kind, t etl.Type) wire { return wire{kind: k, typ: t, format: pgx.BinaryFormatCode} }
	switch oid {
	case pgtype.Int2OID:
		return bin(kindInt2, etl.TypeInt64)
	case pgtype.Int4OID:
		return bin(kindInt4, etl.TypeInt64)
	case pgtype.Int8OID:
		return bin(kindInt8, etl.TypeInt64)
	case pgtype.OIDOID:
		return bin(kindOID, etl.TypeInt64)
	case pgtype.Float4OID:
		return bin(kindFloat4, etl.TypeFloat64)
	case pgtype.Float8OID:
		return bin(kindFloat8, etl.TypeFloat64)
	case pgtype.BoolOID:
		return bin(kindBool, etl.TypeBool)
	case pgtype.NumericOID:
		return wire{kind: kindNumeric, typ: etl.TypeNumeric, format: pgx.TextFormatCode}
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return bin(kindText, etl.TypeText) // binary text is the text itself
	case pgtype.JSONOID:
		return bin(kindText, etl.TypeJSON)
	case pgtype.JSONBOID:
		return bin(kindJSONB, etl.TypeJSON)
	case pgtype.ByteaOID:
		return bin(kindBytea, etl.TypeBytes)
	case pgtype.TimestamptzOID, pgtype.TimestampOID:
		return bin(kindTime, etl.TypeTimestamp)
	case pgtype.DateOID:
		return bin(kindDate, etl.TypeDate)
	case pgtype.UUIDOID:
		return bin(kindUUID, etl.TypeText)
	}
	return wire{kind: kindText, typ: etl.TypeText, format: pgx.TextFormatCode}
}

// pgEpochSeconds is 2000-01-01 00:00:00 UTC, PostgreSQL's epoch, in Unix seconds.
const pgEpochSeconds = 946684800

// PostgreSQL's timestamp range (4714-11-24 BC to 294277 AD, exclusive), in microseconds
// from its epoch: MIN_TIMESTAMP and END_TIMESTAMP in its source.
const (
	minTimestampMicros = -211813488000000000
	endTimestampMicros = 9223371331200000000
	minDateDays        = -2451545   // Julian day 0 less POSTGRES_EPOCH_JDATE
	endDateDays        = 2145031949 // DATE_END_JULIAN less POSTGRES_EPOCH_JDATE
)

// decode turns one raw column value into its etl value. b is only valid until the next
// row, so anything kept (strings, bytes) is copied.
func decode(k kind, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	switch k {
	case kindText:
		return string(b), nil
	case kindInt2:
		if len(b) != 2 {
			return nil, badLen(2, b)
		}
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case kindInt4:
		if len(b) != 4 {
			return nil, badLen(4, b)
		}
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case kindInt8:
		if len(b) != 8 {
			return nil, badLen(8, b)
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	case kindOID:
		if len(b) != 4 {
			return nil, badLen(4, b)
		}
		return int64(binary.BigEndian.Uint32(b)), nil
	case kindFloat4:
		if len(b) != 4 {
			return nil, badLen(4, b)
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case kindFloat8:
		if len(b) != 8 {
			return nil, badLen(8, b)
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case kindBool:
		if len(b) != 1 {
			return nil, badLen(1, b)
		}
		return b[0] != 0, nil
	case kindNumeric:
		if len(b) == 0 || b[0] == 'N' || b[0] == 'I' || (b[0] == '-' && len(b) > 1 && b[1] == 'I') {
			return nil, fmt.Errorf("numeric %q: %w", b, ErrUnsupportedValue)
		}
		return etl.Decimal(b), nil
	case kindJSONB:
		if len(b) == 0 || b[0] != 1 {
			return nil, fmt.Errorf("jsonb: unknown binary version")
		}
		return string(b[1:]), nil
	case kindBytea:
		return append(make([]byte, 0, len(b)), b...), nil
	case kindTime:
		if len(b) != 8 {
			return nil, badLen(8, b)
		}
		us := int64(binary.BigEndian.Uint64(b))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return nil, fmt.Errorf("infinite timestamp: %w", ErrUnsupportedValue)
		}
		if us < minTimestampMicros || us >= endTimestampMicros {
			return nil, fmt.Errorf("timestamp %d microseconds from 2000-01-01 is out of PostgreSQL's range", us)
		}
		// Seconds and microseconds apart: near PostgreSQL's maximum, adding the epoch's
		// microseconds would overflow.
		return time.Unix(pgEpochSeconds+us/1_000_000, us%1_000_000*1_000).UTC(), nil
	case kindDate:
		if len(b) != 4 {
			return nil, badLen(4, b)
		}
		days := int32(binary.BigEndian.Uint32(b))
		if days == math.MaxInt32 || days == math.MinInt32 {
			return nil, fmt.Errorf("infinite date: %w", ErrUnsupportedValue)
		}
		if days < minDateDays || days >= endDateDays {
			return nil, fmt.Errorf("date %d days from 2000-01-01 is out of PostgreSQL's range", days)
		}
		return time.Date(2000, 1, 1+int(days), 0, 0, 0, 0, time.UTC), nil
	case kindUUID:
		if len(b) != 16 {
			return nil, badLen(16, b)
		}
		var s [36]byte
		hex.Encode(s[0:8], b[0:4])
		s[8] = '-'
		hex.Encode(s[9:13], b[4:6])
		s[13] = '-'
		hex.Encode(s[14:18], b[6:8])
		s[18] = '-'
		hex.Encode(s[19:23], b[8:10])
		s[23] = '-'
		hex.Encode(s[24:], b[10:16])
		return string(s[:]), nil
	}
	return nil, fmt.Errorf("no decoder for kind %d", k)
}

func badLen(want int, b []byte) error {
	return fmt.Errorf("binary value of %d bytes, want %d", len(b), want)
}
