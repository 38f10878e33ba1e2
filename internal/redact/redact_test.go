package redact_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/redact"
)

func TestDSN(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"memory", "memory"},
		{"./names.csv", "./names.csv"},
		{`C:\data\names.csv`, `C:\data\names.csv`},
		{"sqlite:./name_gender.db", "sqlite:./name_gender.db"},
		// URLs: the user info, and a password in the query.
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://etl@cluster:5439/dev?password=s3cret", "postgres://etl@cluster:5439/dev?password=xxxxx"},
		{"postgres://etl@db/wh?password=pw&sslmode=disable", "postgres://etl@db/wh?password=xxxxx&sslmode=disable"},
		{"postgres://etl@db/wh?sslmode=disable&PASSWORD=pw", "postgres://etl@db/wh?sslmode=disable&PASSWORD=xxxxx"},
		{"redshift://etl:p%40ss@c.example.com:5439/dev", "redshift://etl:xxxxx@c.example.com:5439/dev"},
		{"postgres://:pw@h/db", "postgres://:xxxxx@h/db"},
		{"postgres://u:@h/db", "postgres://u:xxxxx@h/db"},
		// sslpassword unlocks the client key, and pgx reads a percent-encoded name.
		{"postgres://u@h/db?sslpassword=k3y&sslmode=verify-full", "postgres://u@h/db?sslpassword=xxxxx&sslmode=verify-full"},
		{"postgres://u@h/db?pass%77ord=pw", "postgres://u@h/db?pass%77ord=xxxxx"},
		// Neither parses as a URL, and the password must still go.
		{"postgres://etl:p%zzs3cret@cluster/dev", "postgres://etl:xxxxx@cluster/dev"},
		{"postgres://etl:pa#s3cret@cluster/dev", "postgres://etl:xxxxx@cluster/dev"},
		{"postgres://etl:p@ss@cluster/dev", "postgres://etl:xxxxx@cluster/dev"},
		{"postgres://etl:pa ss@cluster/dev", "postgres://etl:xxxxx@cluster/dev"},
		{"postgres://etl:a://b@cluster/dev", "postgres://etl:xxxxx@cluster/dev"},
		{"://%zz", "://%zz"},
		{"//u:pw@h/db", "//u:xxxxx@h/db"},
		{"//0:0000@", "//0:xxxxx@"},
		// Keyword/value, quoted or not, with escapes.
		{"host=h user=u password=pw dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"user=u PASSWORD=x host=h", "user=u PASSWORD=xxxxx host=h"},
		{"host=cluster password='top s3cret' dbname=dev", "host=cluster password=xxxxx dbname=dev"},
		{`host=h password='it\'s a \\ back' dbname=d`, "host=h password=xxxxx dbname=d"},
		{`host=h password = 'a b' dbname=d`, "host=h password = xxxxx dbname=d"},
		{`host=h password=top\ s3cret dbname=d`, "host=h password=xxxxx dbname=d"},
		{`host=h password='unterminated dbname=d`, "host=h password=xxxxx"},
		{"host=h password='a://b@c' user=u", "host=h password=xxxxx user=u"},
		{"host=h sslpassword=k3y sslkey=/k", "host=h sslpassword=xxxxx sslkey=/k"},
		{"host=h password=", "host=h password=xxxxx"},
		{"postgres://u@h/db?password=&x=1", "postgres://u@h/db?password=xxxxx&x=1"},
		// Free text that quotes DSNs, as errors do.
		{`open store "postgres://u:pw@h/db": refused`, `open store "postgres://u:xxxxx@h/db": refused`},
		{"source postgres://a:p1@h1/db target postgres://b:p2@h2/db", "source postgres://a:xxxxx@h1/db target postgres://b:xxxxx@h2/db"},
		// A bare value ends at a blank, so text that follows it closely goes with it.
		{"cannot parse `host=h password=pw`: bad", "cannot parse `host=h password=xxxxx bad"},
		{"--store=postgres://u:pw@h/db", "--store=postgres://u:xxxxx@h/db"},
		// A presigned URL's signature, credential and token, in free text too.
		{"GET https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2024&X-Amz-Security-Token=tok&X-Amz-Signature=abc123: 403",
			"GET https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=xxxxx&X-Amz-Security-Token=xxxxx&X-Amz-Signature=xxxxx"},
		{"https://h/x?AWSAccessKeyId=AKIA&Signature=s1g&Expires=1", "https://h/x?AWSAccessKeyId=xxxxx&Signature=xxxxx&Expires=1"},
		{"https://acct.blob.core.windows.net/c/x.csv?sv=2020&sig=abc", "https://acct.blob.core.windows.net/c/x.csv?sv=2020&sig=xxxxx"},
		{"s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/key.csv", "s3://AKIAEXAMPLE:xxxxx@bucket/key.csv"},
		{"host=h sslkey=/k/client.key", "host=h sslkey=/k/client.key"},
	} {
		require.Equal(t, tt.want, redact.DSN(tt.in), tt.in)
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"https://host/names.csv", "https://host/names.csv"},
		{"https://host/names.csv?X-Amz-Signature=abc", "https://host/names.csv?..."},
		{"https://host/names.csv#frag", "https://host/names.csv?..."},
		{"https://host/names.csv?", "https://host/names.csv?..."},
		{"https://000?", "https://000?..."},
		{"HTTPS://Host/a%20b.csv", "HTTPS://Host/a%20b.csv"},
		{"https://host/x.csv?email=a@b", "https://host/x.csv?..."},
		// An "@" after a port may end a password; more is hidden, not less.
		{"https://host:8080/x.csv?email=a@b", "https://host:xxxxx@b"},
		{"https://u:pw@host/names.csv", "https://u:xxxxx@host/names.csv"},
		{"https://ghp_t0ken@host/names.csv", "https://xxxxx@host/names.csv"},
		{"s3://bucket/names.csv", "s3://bucket/names.csv"},
		{"s3://bucket/names.csv?versionId=1", "s3://bucket/names.csv?..."},
		// An s3 URL's user info is an access key ID and its secret: both go.
		{"s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/names.csv", "s3://xxxxx:xxxxx@bucket/names.csv"},
		// url.Parse rejects these, or reads a password as a port and a path, query or fragment.
		{"https://bob:12#ss@host/x.csv", "https://bob:xxxxx@host/x.csv"},
		{"https://bob:@#@host/x.csv", "https://bob:xxxxx@host/x.csv"},
		{"https://u:p%zz@host/x.csv?sig=abc", "https://u:xxxxx@host/x.csv?..."},
		{"https://u:pa?ss@host/x.csv", "https://u:xxxxx@host/x.csv"},
		{"https://host/%zz.csv?sig=abc", "https://host/%zz.csv?..."},
		{"https://t%zzok@host/x.csv", "https://xxxxx@host/x.csv"},
		// Anything else is a DSN.
		{"./names.csv", "./names.csv"},
		{"postgres://etl:pw@db:5432/wh?sslmode=require", "postgres://etl:xxxxx@db:5432/wh?sslmode=require"},
		{"host=db user=etl password=pw", "host=db user=etl password=xxxxx"},
	} {
		require.Equal(t, tt.want, redact.URL(tt.in), tt.in)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"postgres://u@h/db", nil},
		{"postgres://u:p%40ss@h/db", []string{"p%40ss", "p@ss"}},
		{"postgres://u@h/db?password=a+b&x=1", []string{"a+b", "a b"}},
		{"host=h password='it\\'s a \\\\ back' x=1", []string{`'it\'s a \\ back'`, `it's a \ back`}},
		{`host=h password=a\ b`, []string{`a\ b`, "a b"}},
		{"host=h password='open", []string{"'open", "open"}},
		{"host=h password=plain", []string{"plain"}},
	} {
		require.Equal(t, tt.want, redact.Secrets(tt.in), tt.in)
	}
}

// FuzzDSN plants a password in every place a DSN or URL can hold one, written as that
// place needs, and checks that what comes out is the same DSN with the password masked:
// so the password appears nowhere, whole or in part, as written or decoded.
func FuzzDSN(f *testing.F) {
	for _, pw := range []string{"s3cr3tPassw0rd", "p@ss:w/rd", "with space", `it's a \ back`, `x y'z\\`,
		"a://b@c", "pa#ss?w", "%zz", "'", `"`, "&00000", "#00000", "00000\"", "000%", "+000", "'00000000"} {
		f.Add(pw)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		// As a whole input, anything at all: none of them may panic.
		_, _, _ = redact.DSN(pw), redact.URL(pw), redact.Secrets(pw)
		kvq := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw)
		kvBare := strings.NewReplacer(`\`, `\\`, " ", `\ `, "\t", "\\\t", "\n", "\\\n", "\r", "\\\r", "\v", "\\\v", "\f", "\\\f", `'`, `\'`).Replace(pw)
		userinfo := url.UserPassword("bob", pw).String()
		cases := []struct{ in, want string }{
			{"postgres://" + userinfo + "@db.internal:5432/wh", "postgres://bob:xxxxx@db.internal:5432/wh"},
			{"postgres://bob@db/wh?password=" + url.QueryEscape(pw) + "&sslmode=require", "postgres://bob@db/wh?password=xxxxx&sslmode=require"},
			{"postgres://bob@db/wh?sslmode=require&sslpassword=" + url.QueryEscape(pw), "postgres://bob@db/wh?sslmode=require&sslpassword=xxxxx"},
			{"host=db user=bob password='" + kvq + "' dbname=wh", "host=db user=bob password=xxxxx dbname=wh"},
			{"open store `postgres://" + userinfo + "@db/wh`: refused", "open store `postgres://bob:xxxxx@db/wh`: refused"},
			{"https://" + userinfo + "@host/x.csv?sig=" + url.QueryEscape(pw), "https://bob:xxxxx@host/x.csv?..."},
			// Every scheme sluice reads: s3 with credentials, a presigned URL (in a URL and
			// in free text), and a postgres DSN in free text.
			{"s3://" + url.UserPassword("AKIA", pw).String() + "@bucket/key.csv", "s3://xxxxx:xxxxx@bucket/key.csv"},
			{"https://b.s3.amazonaws.com/k.csv?X-Amz-Credential=" + url.QueryEscape(pw) + "&X-Amz-Signature=" + url.QueryEscape(pw),
				"https://b.s3.amazonaws.com/k.csv?..."},
			{"GET https://b.s3.amazonaws.com/k.csv?X-Amz-Credential=" + url.QueryEscape(pw) + "&X-Amz-Security-Token=" + url.QueryEscape(pw) +
				"&X-Amz-Signature=" + url.QueryEscape(pw) + "&x-id=GetObject",
				"GET https://b.s3.amazonaws.com/k.csv?X-Amz-Credential=xxxxx&X-Amz-Security-Token=xxxxx&X-Amz-Signature=xxxxx&x-id=GetObject"},
		}
		if strings.HasPrefix(kvBare, `"`) { // not a quote when escaped
			kvBare = `\` + kvBare
		}
		if pw != "" {
			cases = append(cases, struct{ in, want string }{"host=db password=" + kvBare + " dbname=wh", "host=db password=xxxxx dbname=wh"})
		}
		// As typed, unescaped: the URL may not parse, and still the password goes. A blank
		// would end the URL in free text, so is left to the escaped forms above.
		if !strings.ContainsAny(pw, " \t\r\n\v\f") {
			cases = append(cases,
				struct{ in, want string }{"postgres://bob:" + pw + "@db/wh", "postgres://bob:xxxxx@db/wh"},
				struct{ in, want string }{"https://bob:" + pw + "@host/x.csv", "https://bob:xxxxx@host/x.csv"},
			)
		}
		// A file path holds no secret: it is kept as written, whatever it holds, unless it
		// looks like a URL with user info or a key=value pair.
		if !strings.ContainsAny(pw, "=@:") {
			for _, p := range []string{"/data/" + pw + ".csv", "file:///data/" + url.PathEscape(pw) + ".csv"} {
				if got := redact.URL(p); got != p {
					t.Fatalf("redacting the path %q: got %q", p, got)
				}
			}
		}
		for _, c := range cases {
			redactFn := redact.DSN
			if strings.HasPrefix(c.in, "https:") || strings.HasPrefix(c.in, "s3:") {
				redactFn = redact.URL
			}
			if got := redactFn(c.in); got != c.want {
				t.Fatalf("redacting %q: got %q, want %q", c.in, got, c.want)
			}
		}
	})
}
