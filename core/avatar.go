package core

import (
	"bytes"
	"context"
	"image"
	"io"
	"net/http"
	"strings"
	"time"

	// The decoders image.DecodeConfig needs for every type in AvatarTypes.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/webp"
)

// AvatarTypes are the image types StoreAvatar accepts, by sniffed content
// type, with the extension of the stored name.
var AvatarTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}

// avatarFormats maps the format name image.DecodeConfig reports to the
// sniffed content type it must agree with.
var avatarFormats = map[string]string{"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}

// MaxAvatarBytes is the largest avatar StoreAvatar accepts.
const MaxAvatarBytes = maxAvatarLen

// MaxAvatarSide is the largest width or height StoreAvatar accepts: an
// avatar needs far less, and a small file declaring a huge image is a
// decompression bomb for every client that shows it.
const MaxAvatarSide = 8192

// StoreAvatar stores an image under a random name and returns the name.
// The type is sniffed from the content, never taken from the caller, and
// the image header must decode as that type: a file that only begins with
// an image signature (HTML behind a PNG signature, say) is refused.
// Errors: Invalid (empty, too large, not an image, too many pixels).
func (s *Service) StoreAvatar(ctx context.Context, data []byte) (string, error) {
	const op = "core.StoreAvatar"
	if len(data) == 0 || len(data) > maxAvatarLen {
		return "", E(op, Invalid, "avatar must be 1 byte to 5 MiB")
	}
	if err := s.guard(ctx).AllowUpload(ctx); err != nil {
		return "", err
	}
	ct := http.DetectContentType(data)
	ext, ok := AvatarTypes[ct]
	if !ok {
		return "", E(op, Invalid, "avatar is not a JPEG, PNG, GIF or WebP image")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || avatarFormats[format] != ct {
		return "", E(op, Invalid, "avatar is not a well-formed JPEG, PNG, GIF or WebP image")
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxAvatarSide || cfg.Height > MaxAvatarSide {
		return "", E(op, Invalid, "avatar must be 1 to 8192 pixels wide and high")
	}
	id, _, err := newSecret()
	if err != nil {
		return "", Wrap(op, Internal, err)
	}
	name := id + ext
	if err := s.store.PutAvatar(ctx, name, ct, data); err != nil {
		return "", Wrap(op, Internal, err)
	}
	return name, nil
}

// Avatar opens a stored avatar. Errors: NotFound.
func (s *Service) Avatar(ctx context.Context, name string) (string, io.ReadCloser, error) {
	if !validAvatarName(name) {
		return "", nil, E("core.Avatar", NotFound, "no such avatar")
	}
	return s.store.Avatar(ctx, name)
}

func validAvatarName(name string) bool {
	dot := strings.IndexByte(name, '.')
	if dot != 32 || !isToken(name[:dot]) {
		return false
	}
	for _, ext := range AvatarTypes {
		if name[dot:] == ext {
			return true
		}
	}
	return false
}

// AvatarName returns the stored avatar a profile's avatar reference names:
// the reference must be a plain URL path (what an upload endpoint answers,
// such as /v1/avatars/<name>) ending in a valid avatar name. It reports
// false for anything else: another host, a query, a dot segment, a name
// core never makes. Whether the avatar exists is the store's to say.
func AvatarName(ref string) (string, bool) {
	i := strings.LastIndexByte(ref, '/')
	if i < 0 || ref[0] != '/' || !validAvatarName(ref[i+1:]) {
		return "", false
	}
	dir := ref[:i+1]
	if strings.Contains(dir, "//") || strings.Contains(dir, "/./") || strings.Contains(dir, "/../") {
		return "", false
	}
	for _, c := range []byte(dir) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '-' || c == '_' || c == '.') {
			return "", false
		}
	}
	return ref[i+1:], true
}

// claimAvatar checks that a profile's avatar reference ("" for none) names
// a stored upload, and restarts that upload's grace period (see
// Store.DeleteUnusedAvatars): the user that is about to reference it is
// written well within the period, so the collector cannot delete it under
// the registration. Errors: Invalid.
func (s *Service) claimAvatar(ctx context.Context, op, ref string) error {
	if ref == "" {
		return nil
	}
	name, ok := AvatarName(ref)
	if !ok {
		return E(op, Invalid, "avatar must be the URL of an uploaded avatar")
	}
	err := s.store.TouchAvatar(ctx, name, s.cfg.Now())
	if err != nil && KindOf(err) == NotFound {
		return E(op, Invalid, "avatar names no uploaded avatar (uploads no user references are deleted after a grace period)")
	}
	return Wrap(op, Internal, err)
}

// DefaultAvatarGrace is how long the stores keep an upload that no user
// references: long enough to upload, then finish a registration.
const DefaultAvatarGrace = 24 * time.Hour
