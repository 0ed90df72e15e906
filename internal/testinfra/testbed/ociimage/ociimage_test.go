package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"
)

// readArchive returns the archive's files by name.
func readArchive(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// blob returns the blob a descriptor names, checking its digest and size.
func blob(t *testing.T, files map[string][]byte, d descriptor) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+d.Digest[len("sha256:"):]]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if digest(b) != d.Digest || int64(len(b)) != d.Size {
		t.Fatalf("blob %s: digest %s size %d, descriptor says size %d", d.Digest, digest(b), len(b), d.Size)
	}
	return b
}

func TestWriteIsALayoutContainerdCanImport(t *testing.T) {
	img := Image{Names: []string{"docker.io/library/tomcat:7", "docker.io/library/tomcat:8"},
		Files: []File{{Path: "/bin/app", Mode: 0o755, Data: []byte("#!binary")}}, Entrypoint: []string{"/bin/app"}, Env: []string{"TOMCAT_MAJOR=8"}}
	var buf bytes.Buffer
	if err := Write(&buf, "amd64", img); err != nil {
		t.Fatal(err)
	}
	files := readArchive(t, buf.Bytes())
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q", files["oci-layout"])
	}
	var index struct{ Manifests []descriptor }
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want one per name", len(index.Manifests))
	}
	for i, want := range []string{"7", "8"} {
		a := index.Manifests[i].Annotations
		if a["io.containerd.image.name"] != img.Names[i] || a["org.opencontainers.image.ref.name"] != want {
			t.Errorf("manifest %d annotations %v", i, a)
		}
	}
	var m struct {
		Config descriptor
		Layers []descriptor
	}
	if err := json.Unmarshal(blob(t, files, index.Manifests[0]), &m); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Config struct{ Entrypoint, Env []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(blob(t, files, m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Config.Entrypoint[0] != "/bin/app" || cfg.Config.Env[0] != "TOMCAT_MAJOR=8" {
		t.Errorf("config %+v", cfg.Config)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(t, files, m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != digest(raw) {
		t.Errorf("diff_ids %v, want the uncompressed layer's digest %s", cfg.RootFS.DiffIDs, digest(raw))
	}
	layer := readArchive(t, raw)
	if string(layer["bin/app"]) != "#!binary" {
		t.Errorf("layer files %v, want bin/app", layer)
	}
	if _, ok := layer["bin/"]; !ok {
		t.Errorf("layer lacks the directory bin/")
	}
}

func TestWriteIsReproducible(t *testing.T) {
	img := Image{Names: []string{"cutover.test/pause:1"}, Files: []File{{Path: "/pause", Mode: 0o755, Data: []byte("x")}}}
	var a, b bytes.Buffer
	if err := Write(&a, "amd64", img); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, "amd64", img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two writes of the same image differ")
	}
}

func TestRelativePathIsRefused(t *testing.T) {
	err := Write(io.Discard, "amd64", Image{Names: []string{"x:1"}, Files: []File{{Path: "app"}}})
	if err == nil {
		t.Error("a relative path was accepted")
	}
}

func TestTagOf(t *testing.T) {
	for ref, want := range map[string]string{"tomcat:8": "8", "docker.io/library/tomcat:8": "8", "localhost:5000/app": "latest", "app": "latest"} {
		if got := tagOf(ref); got != want {
			t.Errorf("tagOf(%q) = %q, want %q", ref, got, want)
		}
	}
}
