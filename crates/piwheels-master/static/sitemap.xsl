<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:s="http://www.sitemaps.org/schemas/sitemap/0.9">
<xsl:output method="html" encoding="UTF-8"/>
<xsl:template match="/">
<html><head><title>Sitemap</title><link rel="stylesheet" href="/styles.css"/></head>
<body><main><h1>Sitemap</h1><ul>
<xsl:for-each select="//s:loc">
<li><a href="{.}"><xsl:value-of select="."/></a></li>
</xsl:for-each>
</ul></main></body></html>
</xsl:template>
</xsl:stylesheet>
