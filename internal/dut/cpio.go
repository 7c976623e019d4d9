package dut

import (
	"fmt"
	"io"
	"io/fs"
)

// cpioWriter writes the "newc" cpio format the Linux kernel unpacks into
// its initramfs: a 110-byte ASCII header per entry, the name, the data,
// each padded to 4 bytes, and a TRAILER!!! entry at the end.
type cpioWriter struct {
	w     io.Writer
	ino   int
	err   error
	count int64
}

// entry is one file, directory, symlink or device node.
type entry struct {
	name         string // without a leading slash
	mode         fs.FileMode
	data         []byte // file contents, or the link target
	major, minor int    // device nodes
}

const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeChar    = 0o020000
)

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.count += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.count % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) add(e entry) {
	c.ino++
	var typ int
	switch {
	case e.mode&fs.ModeDir != 0:
		typ = modeDir
	case e.mode&fs.ModeSymlink != 0:
		typ = modeSymlink
	case e.mode&fs.ModeCharDevice != 0:
		typ = modeChar
	default:
		typ = modeFile
	}
	mode := typ | int(e.mode.Perm())
	nlink := 1
	if typ == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.major, e.minor, len(e.name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(e.name), 0))
	c.pad()
	c.write(e.data)
	c.pad()
}

func (c *cpioWriter) close() error {
	c.add(entry{name: "TRAILER!!!"})
	return c.err
}
