package redact_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/redact"
)

func TestIsSecretParam(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"api_key": true, "apikey": true, "access_token": true, "client_secret": true,
		"X-Amz-Signature": true, "sig": true, "password": true, "auth": true, "session_id": true,
		"page": false, "limit": false, "updated_since": false, "cursor": false, "offset": false,
	} {
		require.Equal(t, want, redact.IsSecretParam(name), name)
	}
}

func TestURLSecrets(t *testing.T) {
	t.Parallel()
	require.ElementsMatch(t, []string{"pa ss", "pa%20ss", "pa+ss", "tok/en+1", "tok%2Fen+1", "tok%2Fen%2B1"},
		redact.URLSecrets("https://u:pa%20ss@h/x?api_key=tok%2Fen%2B1&page=12345&limit=1000"))
	require.Equal(t, []string{"TOKEN123"}, redact.URLSecrets("https://TOKEN123@h/x"))
	require.Empty(t, redact.URLSecrets("https://h/x?page=2&key=abc"), "values under 4 bytes are ordinary text")
	require.Empty(t, redact.URLSecrets("://bad"))
}
