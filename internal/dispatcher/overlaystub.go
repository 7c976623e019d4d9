package dispatcher

import "context"

// deviceOverlay is the LAVA test overlay put on the device.
type deviceOverlay struct{}

// applyOverlay adds the LAVA test overlay to a deployed ramdisk.
func applyOverlay(ctx context.Context, env *Env, im DeployedImage) (string, error) {
	return "", JobError("overlays: lava: true is not available yet")
}
