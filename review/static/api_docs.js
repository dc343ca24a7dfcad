/* The API reference page: Swagger UI on the app's own OpenAPI document (same origin, so
   "Try it out" calls this server), plus a plugin that shows each operation's curl and
   Python client samples (the page's JSON block #code-samples, from review/web/apidocs.py)
   above its responses. External file: the CSP allows no inline script. */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || !window.SwaggerUIBundle) { return; }
  var samples = JSON.parse(document.getElementById("code-samples").textContent);

  function sampleBlock(React, sample) {
    function block(title, css, text) {
      return React.createElement("div", { key: css },
        React.createElement("h4", null, title),
        React.createElement("pre", { className: css }, text));
    }
    return React.createElement("div", { className: "code-samples", key: "samples" },
      block("curl", "curl", sample.curl), block("Python client", "client", sample.client));
  }

  function CodeSamples() {
    return {
      wrapComponents: {
        responses: function (Original, system) {
          return function (props) {
            var React = system.React;
            var sample = samples[String(props.method).toUpperCase() + " " + props.path];
            var original = React.createElement(Original, Object.assign({ key: "responses" }, props));
            return React.createElement("div", null, sample ? [sampleBlock(React, sample), original]
                                                           : [original]);
          };
        }
      }
    };
  }

  window.ui = window.SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    layout: "BaseLayout",
    deepLinking: true,
    validatorUrl: null,  // no badge from validator.swagger.io: nothing leaves this server
    displayRequestDuration: true,
    showExtensions: true,
    plugins: [CodeSamples]
  });
}());
