package controller

// Leaving out what nginx -t refuses. A config nginx -t refuses would hold
// back every later change in the cluster until the object behind it is
// fixed (a snippet nginx does not understand, a variable this nginx
// lacks). render.Blame maps nginx's error back to the Ingresses whose lines
// it names; the controller builds again without them (their last accepted
// versions keep serving) and makes the rest live. The model reports each
// one as NginxRejected. An exclusion holds for the version refused: the
// next version of the Ingress is tried again.

import (
	"slices"
	"strings"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// excludedIn returns the exclusions that still hold in snap, dropping
// those whose Ingress changed or is gone. Callers hold mu.
func (c *Controller) excludedIn(snap *snapshot.Snapshot) map[string]model.Exclusion {
	if len(c.excluded) == 0 {
		return nil
	}
	holds := make(map[string]model.Exclusion, len(c.excluded))
	for _, ing := range snap.Ingresses {
		k := ing.Namespace + "/" + ing.Name
		if ex, ok := c.excluded[k]; ok && model.SameVersion(ex.Ingress, ing) {
			holds[k] = ex
		}
	}
	for k := range c.excluded {
		if _, ok := holds[k]; !ok {
			c.log.Info("an Ingress nginx -t refused changed; trying it again", "ingress", k)
		}
	}
	c.excluded = holds
	out := make(map[string]model.Exclusion, len(holds))
	for k, ex := range holds {
		out[k] = ex
	}
	return out
}

// exclude leaves out the Ingresses of snap named by sources
// ("namespace/name") for the message nginx -t gave, and reports whether
// any was not left out already: only then is another build worth it.
func (c *Controller) exclude(snap *snapshot.Snapshot, sources []string, output string) bool {
	if len(sources) == 0 {
		c.log.Warn("nginx -t refused lines that belong to no Ingress; keeping the current configuration until a change",
			"error", nginxMessage(output))
		return false
	}
	message := nginxMessage(output)
	c.mu.Lock()
	defer c.mu.Unlock()
	added := 0
	for _, ing := range snap.Ingresses {
		k := ing.Namespace + "/" + ing.Name
		if !slices.Contains(sources, k) {
			continue
		}
		if ex, ok := c.excluded[k]; ok && model.SameVersion(ex.Ingress, ing) {
			continue
		}
		if c.excluded == nil {
			c.excluded = map[string]model.Exclusion{}
		}
		c.excluded[k] = model.Exclusion{Ingress: ing, Message: message}
		added++
		c.log.Warn("nginx -t refused the lines of an Ingress; leaving it out so the rest can go live",
			"ingress", k, "error", message)
	}
	return added > 0
}

// maxNginxMessage bounds the part of nginx's error that goes into a
// finding (an Event on the Ingress).
const maxNginxMessage = 300

// nginxMessage is nginx's first error line, without its "nginx: " prefix
// and the time stamp nginx puts before it, bounded.
func nginxMessage(output string) string {
	line := strings.TrimSpace(output)
	for _, l := range strings.Split(output, "\n") {
		if strings.Contains(l, "[emerg]") || strings.Contains(l, "[alert]") || strings.Contains(l, "[crit]") {
			line = strings.TrimSpace(l)
			break
		}
	}
	if i := strings.Index(line, "["); i >= 0 {
		line = line[i:]
	}
	if len(line) > maxNginxMessage {
		line = line[:maxNginxMessage] + "..."
	}
	return line
}
