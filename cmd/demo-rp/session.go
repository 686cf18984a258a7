package main

import (
	"crypto/rand"
	"sync"
	"time"
)

// sessionLifetime bounds a local session, like asnidp's absolute SSO
// session lifetime; asnidp's logout ends it earlier.
const sessionLifetime = 12 * time.Hour

// Profile is what the app keeps of the employee from the ID token and
// userinfo.
type Profile struct {
	Name         string
	NIP          string
	Email        string
	JenisPegawai string
	Instansi     string
	UnitKerja    string
	Jabatan      string
	AuthTime     time.Time
	AMR          []string
	ACR          string
}

// session is one signed-in browser. sid and sub come from the ID token:
// a logout token names one of them.
type session struct {
	id      string
	sub     string
	sid     string
	idToken string // sent back as id_token_hint at logout
	csrf    string // guards the logout form
	profile Profile
	expires time.Time
}

// sessions keeps sessions in memory, safe for concurrent use.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
}

func newSessions() *sessions { return &sessions{byID: map[string]*session{}} }

// add stores s under a new random ID, which it returns.
func (m *sessions) add(s *session, now time.Time) string {
	s.id = rand.Text()
	s.csrf = rand.Text()
	s.expires = now.Add(sessionLifetime)
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, old := range m.byID { // drop expired sessions as new ones come
		if !now.Before(old.expires) {
			delete(m.byID, id)
		}
	}
	m.byID[s.id] = s
	return s.id
}

// get returns the live session with id, or nil.
func (m *sessions) get(id string, now time.Time) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.byID[id]
	if s == nil || !now.Before(s.expires) {
		return nil
	}
	return s
}

func (m *sessions) remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byID, id)
}

// endMatching ends the sessions a logout token names (Back-Channel Logout
// 1.0 §2.7): with a sid, the sessions of that OP session (and of sub, if
// given too); with only a sub, every session of that user. It returns how
// many ended.
func (m *sessions) endMatching(sid, sub string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, s := range m.byID {
		match := false
		switch {
		case sid != "":
			match = s.sid == sid && (sub == "" || s.sub == sub)
		case sub != "":
			match = s.sub == sub
		}
		if match {
			delete(m.byID, id)
			n++
		}
	}
	return n
}

// count is the number of sessions held, live or not.
func (m *sessions) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byID)
}

// CSRF is the token the logout form carries.
func (s *session) CSRF() string { return s.csrf }
