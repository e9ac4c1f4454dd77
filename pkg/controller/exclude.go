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

	corev1 "k8s.io/api/core/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// The options ConfigMap is the one object of the operator's that can be
// blamed the same way: when nginx names lines of the http context (its log
// format, say) and the ConfigMap is not the version live now, that version
// is left out and the last one live keeps applying.

// excludedConfigMapIn returns the ConfigMap exclusion if it still holds in
// snap (the same version), dropping it otherwise. Callers hold mu.
func (c *Controller) excludedConfigMapIn(snap *snapshot.Snapshot) *model.ConfigMapExclusion {
	ex := c.excludedConfigMap
	if ex == nil {
		return nil
	}
	if cm := c.optionsConfigMap(snap); cm == nil || !model.SameVersion(cm, ex.ConfigMap) {
		c.log.Info("the options ConfigMap nginx -t refused changed; trying it again")
		c.excludedConfigMap = nil
		return nil
	}
	return ex
}

// optionsConfigMap is the options ConfigMap (--configmap) in snap, or nil.
func (c *Controller) optionsConfigMap(snap *snapshot.Snapshot) *corev1.ConfigMap {
	ns, name, ok := strings.Cut(c.opts.Model.ConfigMap, "/")
	if !ok {
		return nil
	}
	for _, cm := range snap.ConfigMaps {
		if cm.Namespace == ns && cm.Name == name {
			return cm
		}
	}
	return nil
}

// excludeConfigMap leaves out the options ConfigMap of snap when it is not
// the version live (only a change can have broken a config that passed),
// and reports whether it did.
func (c *Controller) excludeConfigMap(snap *snapshot.Snapshot, message string) bool {
	cm := c.optionsConfigMap(snap)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cm == nil || model.SameVersion(cm, c.liveConfigMap) {
		return false
	}
	if ex := c.excludedConfigMap; ex != nil && model.SameVersion(ex.ConfigMap, cm) {
		return false
	}
	c.excludedConfigMap = &model.ConfigMapExclusion{ConfigMap: cm, Message: message}
	c.log.Warn("nginx -t refused lines of the options ConfigMap; applying its last accepted version so the rest can go live",
		"configmap", c.opts.Model.ConfigMap, "error", message)
	return true
}

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
	message := nginxMessage(output)
	added := 0
	if slices.Contains(sources, render.GlobalSource) && c.excludeConfigMap(snap, message) {
		added++
	}
	if len(sources) == 0 || (added == 0 && slices.Equal(sources, []string{render.GlobalSource})) {
		c.log.Warn("nginx -t refused lines that belong to no Ingress, nor to a changed options ConfigMap; keeping the current configuration until a change",
			"error", message)
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
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
