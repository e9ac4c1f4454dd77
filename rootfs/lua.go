package rootfs

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// lua is Portico's Lua balancer, as the image ships it in /usr/share/portico/lua:
// the modules and the hooks, not the specs beside them (spec/, run by make
// lua-test), which nginx has no use for.
//
//go:embed usr/share/portico/lua/portico usr/share/portico/lua/hooks
var lua embed.FS

// luaRoot is the embedded directory that maps to lua_package_path.
const luaRoot = "usr/share/portico/lua"

// Lua returns the Lua code tree (portico/*.lua and portico/balancer/*.lua modules,
// hooks/*.lua entry files).
func Lua() fs.FS {
	sub, err := fs.Sub(lua, luaRoot)
	if err != nil {
		panic(err) // the path is a constant that go:embed has checked
	}
	return sub
}

// InstallLua writes the Lua code into dir, replacing what is there. The
// controller does this at start so that nginx always runs the Lua code of
// the controller that pushes its data, whatever the image's copy is.
// Files are world-readable: nginx workers run as another user.
func InstallLua(dir string) error {
	return fs.WalkDir(Lua(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("installing Lua code: %w", err)
			}
			return os.Chmod(target, 0o755)
		}
		data, err := fs.ReadFile(Lua(), path)
		if err != nil {
			return err
		}
		tmp := target + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return fmt.Errorf("installing Lua code: %w", err)
		}
		if err := os.Rename(tmp, target); err != nil {
			return fmt.Errorf("installing Lua code: %w", err)
		}
		return nil
	})
}
