import { memo, useState, type ReactNode } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import remarkGfm from "remark-gfm";

// No rehype-raw: HTML inside a reply stays text. Links open elsewhere and never carry the page's
// referrer; images are not fetched (the agent's output must not make the browser load anything).

function textOf(node: ReactNode): string {
  if (typeof node === "string" || typeof node === "number") return String(node);
  if (Array.isArray(node)) return node.map(textOf).join("");
  if (node && typeof node === "object" && "props" in node) {
    return textOf((node.props as { children?: ReactNode }).children);
  }
  return "";
}

function languageOf(node: ReactNode): string | null {
  const child = Array.isArray(node) ? node[0] : node;
  if (child && typeof child === "object" && "props" in child) {
    const className = (child.props as { className?: unknown }).className;
    const match = typeof className === "string" ? /language-([\w+#.-]+)/.exec(className) : null;
    if (match) return match[1];
  }
  return null;
}

function CodeBlock({ children }: { children?: ReactNode }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    void navigator.clipboard?.writeText(textOf(children)).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    });
  };
  const language = languageOf(children);
  return (
    <div className="code-block" data-testid="code-block">
      {/* Code stays dark in both themes (its highlighting is github-dark): fixed colours, not the theme's. */}
      <div className="flex items-center justify-between border-b border-[#262626] px-3 py-1 text-xs text-[#a3a3a3]">
        <span className="font-mono">{language ?? "text"}</span>
        <button
          type="button"
          onClick={copy}
          aria-label={copied ? "Copied" : `Copy the ${language ?? "text"} code`}
          className="rounded px-1.5 py-0.5 hover:bg-[#ffffff1a] hover:text-[#e5e5e5]"
        >
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
      <pre>{children}</pre>
    </div>
  );
}

const components: Components = {
  a: ({ href, children }) => (
    <a href={href} target="_blank" rel="noopener noreferrer nofollow">
      {children}
    </a>
  ),
  img: ({ alt }) => <span className="text-neutral-400">[image{alt ? `: ${alt}` : ""}]</span>,
  pre: ({ children }) => <CodeBlock>{children}</CodeBlock>,
};

const remarkPlugins = [remarkGfm];
const rehypePlugins = [rehypeHighlight];

export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <div className="md">
      <ReactMarkdown remarkPlugins={remarkPlugins} rehypePlugins={rehypePlugins} components={components}>
        {text}
      </ReactMarkdown>
    </div>
  );
});
