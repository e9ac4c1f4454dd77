package inspect

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPickPod(t *testing.T) {
	pod := func(name string, phase corev1.PodPhase, ready bool, labels map[string]string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "portico", Name: name, Labels: labels},
			Status: corev1.PodStatus{Phase: phase}}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		return p
	}
	ctl := map[string]string{"app.kubernetes.io/name": "portico"}
	tests := []struct {
		name    string
		pods    []*corev1.Pod
		f       Forward
		want    string
		wantErr string
	}{
		{"named pod is taken as is", nil, Forward{Pod: "given"}, "given", ""},
		{"the first ready one by name", []*corev1.Pod{
			pod("portico-c", corev1.PodRunning, true, ctl), pod("portico-a", corev1.PodRunning, false, ctl),
			pod("portico-b", corev1.PodRunning, true, ctl), pod("other", corev1.PodRunning, true, map[string]string{"app": "x"}),
		}, Forward{}, "portico-b", ""},
		{"a running one when none is ready", []*corev1.Pod{
			pod("portico-b", corev1.PodPending, false, ctl), pod("portico-a", corev1.PodRunning, false, ctl),
		}, Forward{}, "portico-a", ""},
		{"none", []*corev1.Pod{pod("portico-a", corev1.PodFailed, false, ctl)}, Forward{}, "",
			`no running Pod in namespace portico matches "app.kubernetes.io/name=portico"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			for _, p := range tt.pods {
				_, err := client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
				require.NoError(t, err)
			}
			f := tt.f
			f.Namespace, f.Selector = DefaultNamespace, DefaultSelector
			got, err := pickPod(context.Background(), client, f)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
