//go:build linux

package node

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The images the suite makes itself: no registry is reachable here.
const (
	pauseImage = "localhost/portico-pause:e2e"
	echoImage  = "localhost/portico-echo:e2e"
)

// buildImageBinaries builds e2e/pause and e2e/echoserver statically, to be
// the only file of their images.
func (n *node) buildImageBinaries(root string) error {
	n.pauseBinary = filepath.Join(n.dir, "pause")
	n.echoBinary = filepath.Join(n.dir, "echoserver")
	for out, pkg := range map[string]string{n.pauseBinary: "./e2e/pause", n.echoBinary: "./e2e/echoserver"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
	}
	return nil
}

// saveImage writes the image under test from podman's store to a Docker
// archive, which ctr imports under the image's name.
func (n *node) saveImage(image string) error {
	n.imageArchive = filepath.Join(n.dir, "image.tar")
	if b, err := exec.Command("podman", "save", "--format", "docker-archive", "-o", n.imageArchive, image).CombinedOutput(); err != nil {
		return fmt.Errorf("podman save %s: %w\n%s", image, err, b)
	}
	return nil
}

// importImages loads the pause, echo-server and Portico images into
// containerd's Kubernetes namespace, where the kubelet finds them.
func (n *node) importImages() error {
	started := time.Now()
	images := []struct{ name, binary string }{
		{pauseImage, n.pauseBinary},
		{echoImage, n.echoBinary},
	}
	for _, img := range images {
		archive := filepath.Join(n.dir, filepath.Base(img.binary)+".oci.tar")
		if err := writeOCIArchive(archive, img.name, img.binary); err != nil {
			return err
		}
		if _, err := n.ctr("images", "import", archive); err != nil {
			return err
		}
	}
	if _, err := n.ctr("images", "import", n.imageArchive); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e/node: images imported into containerd in %s\n", time.Since(started).Round(time.Millisecond))
	return nil
}

// writeOCIArchive writes an OCI image layout archive of one layer holding
// binary as /NAME, its entrypoint, named name for containerd's import.
// The user is 65534 (nobody): neither image needs root.
func writeOCIArchive(path, name, binary string) error {
	content, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	entry := "/" + filepath.Base(binary)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: entry[1:], Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if _, err := tw.Write(content); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	layerDigest := digest(layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": []string{entry}, "User": "65534:65534"},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", config, nil),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar", layer.Bytes(), nil)},
	})
	if err != nil {
		return err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{descriptor("application/vnd.oci.image.manifest.v1+json", manifest,
			map[string]string{"io.containerd.image.name": name})},
	})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	aw := tar.NewWriter(&out)
	files := []struct {
		name    string
		content []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(config), config},
		{blobPath(manifest), manifest},
		{blobPath(layer.Bytes()), layer.Bytes()},
	}
	for _, f := range files {
		if err := aw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := aw.Write(f.content); err != nil {
			return err
		}
	}
	if err := aw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o600)
}

// digest is the OCI digest of b.
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// blobPath is where an OCI layout keeps b.
func blobPath(b []byte) string {
	sum := sha256.Sum256(b)
	return "blobs/sha256/" + hex.EncodeToString(sum[:])
}

// descriptor is an OCI content descriptor of b.
func descriptor(mediaType string, b []byte, annotations map[string]string) map[string]any {
	d := map[string]any{"mediaType": mediaType, "digest": digest(b), "size": len(b)}
	if annotations != nil {
		d["annotations"] = annotations
	}
	return d
}
