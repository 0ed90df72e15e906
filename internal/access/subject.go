package access

import (
	"context"
	"fmt"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Subject is a person as the API server authenticated them (a
// TokenReview's user): whom a server that acts for people asks about, and
// impersonates.
type Subject struct {
	User   string
	UID    string
	Groups []string
}

// Denied asks the API server, with one SubjectAccessReview per need,
// whether s may do each of needs, and returns those it may not (none: all
// allowed). c is the asker's client: it needs create on
// subjectaccessreviews (ClusterRole system:auth-delegator grants it).
func Denied(ctx context.Context, c kubernetes.Interface, s Subject, needs []Need) ([]Need, error) {
	var out []Need
	for _, n := range dedupe(needs) {
		review := &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
			User: s.User, UID: s.UID, Groups: s.Groups,
			ResourceAttributes: &authv1.ResourceAttributes{Namespace: n.Namespace, Verb: n.Verb,
				Group: n.Resource.Group, Resource: n.Resource.Resource, Subresource: n.Subresource},
		}}
		got, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("review whether %s may %s: %w", s.User, n, err)
		}
		if !got.Status.Allowed {
			out = append(out, n)
		}
	}
	return out, nil
}
