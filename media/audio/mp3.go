package audio

import "fmt"

// isMP3 reports whether b starts with an ID3v2 tag or an MPEG audio frame sync.
func isMP3(b []byte) bool {
	if len(b) >= 3 && string(b[:3]) == "ID3" {
		return true
	}
	return len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0 && b[1]&0x06 != 0
}

func decodeMP3(data []byte) (*Clip, error) {
	return nil, fmt.Errorf("%w: MP3", ErrUnsupported)
}
