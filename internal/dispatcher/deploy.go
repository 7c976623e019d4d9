package dispatcher

import (
	"cmp"
	"context"
	"slices"

	"github.com/basalt-lab/basalt/internal/jobdef"
)

// deployNames are the pipeline names of the deploy targets.
var deployNames = map[string]string{
	"tmpfs":     "tmpfs-deploy",
	"downloads": "downloads-deploy",
	"download":  "download-deploy",
	"tftp":      "tftp-deploy",
}

// simDeploy is a deploy action on a simulated device: it records which
// images the job deploys, without downloading them.
type simDeploy struct {
	name   string
	deploy *jobdef.Deploy
}

func (d *simDeploy) Name() string { return d.name }

func (d *simDeploy) Run(ctx context.Context, env *Env) error {
	env.Info("simulated device: images are not downloaded (a simulated device boots nothing)")
	type image struct {
		name string
		img  jobdef.Image
	}
	var images []image
	for name, img := range d.deploy.Images {
		images = append(images, image{name, img})
	}
	// Source order, like LAVA (a map has none).
	slices.SortFunc(images, func(a, b image) int {
		return cmp.Or(cmp.Compare(a.img.Pos.Line, b.img.Pos.Line), cmp.Compare(a.img.Pos.Column, b.img.Pos.Column), cmp.Compare(a.name, b.name))
	})
	for _, im := range images {
		if err := ctx.Err(); err != nil {
			return err
		}
		env.Info("deployed %s: %s", im.name, im.img.URL)
	}
	return nil
}
