package event

// RedactError masks secret values in err's text (see Masker), keeping its
// chain for errors.Is and errors.As.
func RedactError(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	return maskedError{err: err, msg: Masker(secrets)(err.Error())}
}

// maskedError keeps the chain of err but prints msg.
type maskedError struct {
	err error
	msg string
}

func (e maskedError) Error() string { return e.msg }
func (e maskedError) Unwrap() error { return e.err }
