package main

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeClient connects with --kubeconfig, else with the Pod's service account.
func kubeClient(kubeconfig string) (kubernetes.Interface, *rest.Config, error) {
	var cfg *rest.Config
	var err error
	switch {
	case kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, nil, fmt.Errorf("in-cluster config: %w", err)
		}
	default:
		return nil, nil, errors.New("no objects to serve: give --manifests DIR, or --kubeconfig FILE, or run in a Pod")
	}
	cfg.UserAgent = "portico/" + version
	// The defaults (5 QPS) throttle status updates across many Ingresses.
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return client, cfg, nil
}
