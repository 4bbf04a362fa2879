package registrar

// Count is the number of live bindings.
func (r *Registry) Count() int {
	now := r.now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, list := range r.byExt {
		for _, b := range list {
			if now.Before(b.ExpiresAt) {
				n++
			}
		}
	}
	return n
}
