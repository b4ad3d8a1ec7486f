-- Sessions no longer keep the provider's ID token (a bearer credential at rest); forget the ones kept so
-- far. Sign-out now names the client instead of passing the token as a hint.
UPDATE web_sessions SET id_token = NULL WHERE id_token IS NOT NULL;
