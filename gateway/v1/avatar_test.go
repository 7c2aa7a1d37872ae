package v1_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"
)

// webpImage is a 1×1 lossless WebP.
var webpImage = []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")

// stored counts the avatars in the store: every one is unreferenced here,
// so deleting those older than a far future counts them all.
func (h *harness) stored() int {
	h.t.Helper()
	n, err := h.store.DeleteUnusedAvatars(context.Background(), h.clock.Now().Add(1000*time.Hour))
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// An upload must decode as the image type its signature claims, within
// MaxAvatarSide: a signature in front of HTML is refused and not stored.
func TestUploadMustDecode(t *testing.T) {
	h := newHarness(t)
	var jpg, gf bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 3, 3)), nil); err != nil {
		t.Fatal(err)
	}
	if err := gif.Encode(&gf, image.NewPaletted(image.Rect(0, 0, 3, 3), []color.Color{color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, ct string
		data     []byte
	}{
		{"png", "image/png", pngImage(t)},
		{"jpeg", "image/jpeg", jpg.Bytes()},
		{"gif", "image/gif", gf.Bytes()},
		{"webp", "image/webp", webpImage},
	} {
		url := h.upload("application/octet-stream", c.data).want(201).json()["url"].(string)
		got := h.do("GET", url, nil).want(200)
		if got.Header().Get("Content-Type") != c.ct || !bytes.Equal(got.Body.Bytes(), c.data) {
			t.Errorf("%s: GET %s = %s, %d bytes", c.name, url, got.Header().Get("Content-Type"), got.Body.Len())
		}
	}
	if n := h.stored(); n != 4 {
		t.Fatalf("%d avatars stored, want the 4 images", n)
	}

	html := "<html><body><script>alert(document.cookie)</script></body></html>"
	wide := pngOf(t, image.NewGray(image.Rect(0, 0, 8193, 1)))
	for name, data := range map[string][]byte{
		"PNG signature + HTML":  []byte("\x89PNG\r\n\x1a\n" + html),
		"GIF signature + HTML":  []byte("GIF89a" + html),
		"JPEG signature + HTML": []byte("\xff\xd8\xff\xe0" + html),
		"WebP header + HTML":    []byte("RIFF\x40\x00\x00\x00WEBPVP8 " + html),
		"GIF header only":       []byte("GIF89a;"),
		"PNG 8193 px wide":      wide,
		// 65535×65535 declared in 13 bytes: a bomb for whoever decodes it.
		"GIF bomb header": []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00;"),
	} {
		for _, res := range []response{h.upload("application/octet-stream", data), h.upload(multipartBody(t, "img", data))} {
			if res.Code != 400 || !strings.Contains(res.Body.String(), `"code":"invalid"`) {
				t.Errorf("%s: %d %s, want 400 invalid", name, res.Code, res.Body)
			}
		}
	}
	if n := h.stored(); n != 0 {
		t.Fatalf("%d refused uploads were stored", n)
	}
}

func pngOf(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// /v1 registration takes only the url POST /v1/avatars returned for a
// stored upload; anything else is a 400 that spends neither the code nor
// the phone.
func TestRegisterAvatarMustBeAnUpload(t *testing.T) {
	h := newHarness(t)
	url := h.upload("image/png", pngImage(t)).want(201).json()["url"].(string)
	name := strings.TrimPrefix(url, "/v1/avatars/")
	code := h.sendCode(phone, "register")
	for _, avatar := range []string{
		"/api/v4.0/login?phone=13800138000&password=x",    // another endpoint of this host
		"/v1/avatars/" + strings.Repeat("0", 32) + ".png", // well-formed, never uploaded
		"/v1/avatars/x.png",
		"/v1/avatars/../users",
		"/static/avatars/" + name, // a stored name behind another path
		url + "?download=1",
		url + "/",
		"/v1/avatars//" + name,
	} {
		res := h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "code": code, "avatar": avatar})
		if res.Code != 400 || !strings.Contains(res.Body.String(), `"code":"invalid"`) {
			t.Errorf("avatar %q: %d %s, want 400 invalid", avatar, res.Code, res.Body)
		}
	}
	// Nothing was spent: the same code registers with the uploaded avatar.
	r := h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "code": code, "avatar": url}).want(201).json()
	if r["user"].(obj)["avatar"] != url {
		t.Fatalf("user = %v", r["user"])
	}
}
