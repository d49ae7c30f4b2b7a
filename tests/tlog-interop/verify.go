// Checks the Merkle trees, proofs and signed checkpoints that our C code
// produced (tests/tlog_interop_gen, JSON) against golang.org/x/mod/sumdb/tlog
// and golang.org/x/mod/sumdb/note: the Go module checksum database's
// implementation of RFC 6962 trees and of the signed-note format that
// C2SP signed-note standardizes.  Debian packages golang-go and
// golang-golang-x-mod-dev; run by tests/tlog_interop.sh with GO111MODULE=off
// and GOPATH=/usr/share/gocode (no download).
//
//	go run verify.go IN.json
//
// For every tree: the root equals tlog.TreeHash over the entries; every
// inclusion proof equals tlog.ProveRecord and passes tlog.CheckRecord; every
// consistency proof equals tlog.ProveTree and passes tlog.CheckTree; the
// verifier key parses with note.NewVerifier and opens the checkpoint with
// note.Open; and note.Sign with our signer key string reproduces our signed
// checkpoint byte for byte (Ed25519 is deterministic).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index  int64    `json:"index"`
	Hashes []string `json:"hashes"`
}

type consistency struct {
	Size1  int64    `json:"size1"`
	Root1  string   `json:"root1"`
	Hashes []string `json:"hashes"`
}

type tree struct {
	Size        int64         `json:"size"`
	Root        string        `json:"root"`
	Checkpoint  string        `json:"checkpoint"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

type input struct {
	Origin    string   `json:"origin"`
	Vkey      string   `json:"vkey"`
	SignerKey string   `json:"signer_key"`
	Entries   []string `json:"entries"`
	Trees     []tree   `json:"trees"`
}

var passed, failed int

func check(ok bool, format string, args ...interface{}) {
	if ok {
		passed++
		return
	}
	failed++
	if failed <= 20 {
		fmt.Printf("FAIL: "+format+"\n", args...)
	}
}

func hash(s string) tlog.Hash {
	var h tlog.Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(h) {
		fmt.Printf("bad hash %q\n", s)
		os.Exit(1)
	}
	copy(h[:], b)
	return h
}

func hashes(list []string) []tlog.Hash {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		out[i] = hash(s)
	}
	return out
}

func equal(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func main() {
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	// Go's own storage layout: every stored hash, in order.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, e := range in.Entries {
		hs, err := tlog.StoredHashes(int64(i), []byte(e), reader)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		stored = append(stored, hs...)
	}
	v, err := note.NewVerifier(in.Vkey)
	check(err == nil, "note.NewVerifier(%q): %v", in.Vkey, err)
	s, err := note.NewSigner(in.SignerKey)
	check(err == nil, "note.NewSigner: %v", err)
	if err != nil || v == nil {
		os.Exit(1)
	}
	check(v.Name() == in.Origin && v.KeyHash() == s.KeyHash(), "key name and ID")
	for _, t := range in.Trees {
		root := hash(t.Root)
		th, err := tlog.TreeHash(t.Size, reader)
		check(err == nil && th == root, "root of %d", t.Size)
		// The checkpoint: opened by Go's verifier, and Go's signer gives
		// the same bytes.
		n, err := note.Open([]byte(t.Checkpoint), note.VerifierList(v))
		check(err == nil, "note.Open checkpoint %d: %v", t.Size, err)
		if err == nil {
			body := fmt.Sprintf("%s\n%d\n%s\n", in.Origin, t.Size, t.Root)
			check(n.Text == body, "checkpoint text of %d", t.Size)
			signed, err := note.Sign(&note.Note{Text: body}, s)
			check(err == nil && bytes.Equal(signed, []byte(t.Checkpoint)),
				"note.Sign reproduces checkpoint %d", t.Size)
		}
		for _, p := range t.Inclusion {
			ours := tlog.RecordProof(hashes(p.Hashes))
			theirs, err := tlog.ProveRecord(t.Size, p.Index, reader)
			check(err == nil && equal(ours, theirs), "ProveRecord(%d, %d)", t.Size, p.Index)
			leaf := tlog.RecordHash([]byte(in.Entries[p.Index]))
			check(tlog.CheckRecord(ours, t.Size, root, p.Index, leaf) == nil,
				"CheckRecord(%d, %d)", t.Size, p.Index)
		}
		for _, c := range t.Consistency {
			ours := tlog.TreeProof(hashes(c.Hashes))
			theirs, err := tlog.ProveTree(t.Size, c.Size1, reader)
			check(err == nil && equal(ours, theirs), "ProveTree(%d, %d)", t.Size, c.Size1)
			check(tlog.CheckTree(ours, t.Size, root, c.Size1, hash(c.Root1)) == nil,
				"CheckTree(%d, %d)", t.Size, c.Size1)
			if len(ours) > 0 {
				bad := append(tlog.TreeProof{}, ours...)
				bad[0][0] ^= 1
				check(tlog.CheckTree(bad, t.Size, root, c.Size1, hash(c.Root1)) != nil,
					"CheckTree(%d, %d) accepted a flipped hash", t.Size, c.Size1)
			}
		}
	}
	fmt.Printf("tlog interop (golang.org/x/mod/sumdb): %d passed, %d failed\n", passed, failed)
	if failed != 0 {
		os.Exit(1)
	}
}
