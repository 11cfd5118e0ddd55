// Starts Swagger UI on /docs. Kept out of the page so the Content-Security-Policy
// can forbid inline scripts; the spec URL comes from the body's data-spec and is
// resolved against the origin, so credentials typed into the page's URL
// (http://user:pass@host/docs) do not end up in fetch(), which refuses them.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL(document.body.dataset.spec, window.location.origin).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
