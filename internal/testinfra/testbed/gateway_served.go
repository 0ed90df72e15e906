package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// rawData is the part of Traefik's /api/rawdata that says where requests
// go: each router's service, and each service's servers or weighted
// children.
type rawData struct {
	Routers map[string]struct {
		Service string `json:"service"`
	} `json:"routers"`
	Services map[string]struct {
		LoadBalancer *struct {
			Servers []struct {
				URL string `json:"url"`
			} `json:"servers"`
		} `json:"loadBalancer"`
		Weighted *struct {
			Services []struct {
				Name   string `json:"name"`
				Weight *int   `json:"weight"`
			} `json:"services"`
		} `json:"weighted"`
	} `json:"services"`
}

// config reads what Traefik runs from its API.
func (g *Gateway) config(ctx context.Context) (rawData, error) {
	var raw rawData
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.AdminURL+"/api/rawdata", nil)
	if err != nil {
		return raw, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return raw, fmt.Errorf("traefik's configuration: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return raw, fmt.Errorf("traefik's configuration: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return raw, fmt.Errorf("traefik's configuration: %w", err)
	}
	return raw, nil
}

// Weights returns the weights Traefik runs: every weighted service's
// children, by name (Traefik's, which holds the Kubernetes Service's).
func (g *Gateway) Weights(ctx context.Context) (map[string]int, error) {
	raw, err := g.config(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, s := range raw.Services {
		if s.Weighted == nil {
			continue
		}
		for _, child := range s.Weighted.Services {
			out[child.Name] = 1 // Traefik's default
			if child.Weight != nil {
				out[child.Name] = *child.Weight
			}
		}
	}
	return out, nil
}

// Served returns the addresses (host:port) Traefik sends requests to now,
// sorted: the servers of every router's service, through weighted
// services' children of weight above zero only. It is what Traefik runs,
// which follows the routes' status by up to its throttle; nil when it
// runs no route (just restarted, say).
func (g *Gateway) Served(ctx context.Context) ([]string, error) {
	raw, err := g.config(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range raw.Routers {
		raw.collect(r.Service, seen, 0)
	}
	var out []string
	for addr := range seen {
		out = append(out, addr)
	}
	slices.Sort(out)
	return out, nil
}

// collect adds the addresses service sends to; Traefik names services
// "name@provider" where routers may say just "name".
func (raw rawData) collect(service string, seen map[string]bool, depth int) {
	s, ok := raw.Services[service]
	if !ok {
		s, ok = raw.Services[service+"@kubernetesgateway"]
	}
	if !ok || depth > 8 {
		return
	}
	if lb := s.LoadBalancer; lb != nil {
		for _, srv := range lb.Servers {
			if u, err := url.Parse(srv.URL); err == nil {
				seen[u.Host] = true
			}
		}
	}
	if w := s.Weighted; w != nil {
		for _, child := range w.Services {
			if child.Weight == nil || *child.Weight > 0 {
				raw.collect(child.Name, seen, depth+1)
			}
		}
	}
}
