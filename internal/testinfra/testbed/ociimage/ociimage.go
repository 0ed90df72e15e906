// Package ociimage writes container images as OCI image-layout archives,
// from files on disk, with the standard library only: the real node's test
// bed imports them into containerd (ctr images import) so that pods run
// without a registry.
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"time"
)

// Media types of the OCI image spec.
const (
	MediaIndex    = "application/vnd.oci.image.index.v1+json"
	MediaManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaConfig   = "application/vnd.oci.image.config.v1+json"
	MediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// File is one file of an image's single layer.
type File struct {
	Path string // absolute path in the image, e.g. /app
	Mode int64  // e.g. 0o755
	Data []byte
}

// Image is one image: its full names (docker.io/library/tomcat:8) share its
// content.
type Image struct {
	Names      []string
	Files      []File
	Entrypoint []string
	Env        []string
	User       string
}

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// archive collects the blobs of an image layout.
type archive struct {
	blobs map[string][]byte
	order []string
}

func (a *archive) add(mediaType string, b []byte) descriptor {
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	if _, ok := a.blobs[d]; !ok {
		a.blobs[d] = b
		a.order = append(a.order, d)
	}
	return descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// Write writes one image-layout archive holding every image, for the
// platform arch (e.g. amd64) on linux.
func Write(w io.Writer, arch string, images ...Image) error {
	a := &archive{blobs: map[string][]byte{}}
	index := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{SchemaVersion: 2, MediaType: MediaIndex}
	for _, img := range images {
		m, err := a.image(img, arch)
		if err != nil {
			return err
		}
		for _, name := range img.Names {
			d := m
			d.Platform = &platform{Architecture: arch, OS: "linux"}
			d.Annotations = map[string]string{
				"io.containerd.image.name":          name,
				"org.opencontainers.image.ref.name": tagOf(name),
			}
			index.Manifests = append(index.Manifests, d)
		}
	}
	ib, err := json.Marshal(index)
	if err != nil {
		return err
	}
	return a.writeTar(w, ib)
}

// image adds an image's layer, config and manifest and returns the
// manifest's descriptor.
func (a *archive) image(img Image, arch string) (descriptor, error) {
	layer, diffID, err := layerOf(img.Files)
	if err != nil {
		return descriptor{}, fmt.Errorf("image %v: %w", img.Names, err)
	}
	config := map[string]any{
		"architecture": arch,
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": img.Entrypoint, "Env": img.Env, "User": img.User},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	}
	cb, err := json.Marshal(config)
	if err != nil {
		return descriptor{}, err
	}
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     MediaManifest,
		"config":        a.add(MediaConfig, cb),
		"layers":        []descriptor{a.add(MediaLayer, layer)},
	}
	mb, err := json.Marshal(manifest)
	if err != nil {
		return descriptor{}, err
	}
	return a.add(MediaManifest, mb), nil
}

// layerOf returns the gzipped layer and the digest of its uncompressed tar.
func layerOf(files []File) ([]byte, string, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	dirs := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) {
			return nil, "", fmt.Errorf("file %q: path is not absolute", f.Path)
		}
		for _, d := range parents(f.Path) {
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: epoch}); err != nil {
					return nil, "", err
				}
			}
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path[1:], Mode: f.Mode, Size: int64(len(f.Data)), ModTime: epoch}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(raw.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), "sha256:" + hex.EncodeToString(sum[:]), nil
}

// epoch stamps every entry, so the same files give the same digests.
var epoch = time.Unix(0, 0)

// parents lists the directories above p, outermost first ("/a/b/c" gives
// "/a", "/a/b").
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

// tagOf is the tag of a reference, "latest" when it has none.
func tagOf(ref string) string {
	for i := len(ref) - 1; i >= 0 && ref[i] != '/'; i-- {
		if ref[i] == ':' {
			return ref[i+1:]
		}
	}
	return "latest"
}

func (a *archive) writeTar(w io.Writer, index []byte) error {
	tw := tar.NewWriter(w)
	put := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	for _, d := range a.order {
		if err := put("blobs/sha256/"+d[len("sha256:"):], a.blobs[d]); err != nil {
			return err
		}
	}
	if err := put("index.json", index); err != nil {
		return err
	}
	return tw.Close()
}

// WriteFile writes the archive to path.
func WriteFile(path, arch string, images ...Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, arch, images...); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
